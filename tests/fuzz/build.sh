#!/usr/bin/env bash
# Build the libFuzzer target for the model compiler and loader into
# tests/fuzz/build/fuzz_model (clang, with AddressSanitizer and UBSan).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
mkdir -p "$here/build"
clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wno-unused-parameter -Wno-ignored-attributes \
    -I"$root/extension" -I"$here" -I"$("$PG_CONFIG" --includedir-server)" \
    $(pkg-config --cflags jansson openblas) \
    "$here/fuzz_model.c" "$here/pg_stubs.c" "$root/extension/model.c" "$root/extension/model_compile.c" "$root/extension/model_json.c" "$root/extension/model_xgboost.c" \
    $(pkg-config --libs jansson openblas) -lm \
    -o "$here/build/fuzz_model"
echo "$here/build/fuzz_model"
