#!/usr/bin/env python3
"""A developer's tool, not part of the extension: regenerate the body of an
upgrade script from the built install script.

    make && python3 tests/tools/upgrade_script.py extension/mlops--0.1.0--0.2.0.sql mlops--0.2.0.sql

The upgrade script's hand-written head (table changes, routines dropped or
whose arguments changed) is kept: everything before the line starting with
MARKER.  After it come every routine and view of the install script as
CREATE OR REPLACE, its privileges and its pg_extension_config_dump calls.
tests/integration/upgrade.sh checks the result against a fresh install."""
import re, sys
MARKER = '-- Every routine of '
upgrade_path, built_path = sys.argv[1], sys.argv[2]
built = open(built_path).read()
version = re.search(r'mlops--([0-9.]+)\.sql$', built_path).group(1)

def statements(sql):
    out, i, n, start = [], 0, len(sql), 0
    while i < n:
        c = sql[i]
        if sql.startswith('--', i):
            j = sql.find('\n', i); i = n if j < 0 else j + 1; continue
        if c == "'":
            i += 1
            while i < n:
                if sql[i] == "'" and i + 1 < n and sql[i+1] == "'": i += 2; continue
                if sql[i] == "'": break
                i += 1
            i += 1; continue
        if c == '$':
            m = re.match(r'\$([A-Za-z_]*)\$', sql[i:])
            if m:
                tag = m.group(0); j = sql.find(tag, i + len(tag)); i = j + len(tag); continue
        if c == ';':
            # a BEGIN ATOMIC body holds statements of its own, up to END;
            text = sql[start:i]
            if re.search(r'\bBEGIN ATOMIC\b', text) and not re.search(r'\bEND\s*$', text):
                i += 1; continue
            out.append(sql[start:i+1]); start = i + 1
        i += 1
    return out

stmts = statements(built)
def core(s):
    lines = [l for l in s.strip('\n').split('\n')]
    # drop leading comment/blank lines
    while lines and (lines[0].startswith('--') or not lines[0].strip()): lines.pop(0)
    return '\n'.join(lines)
routines, views, grants, dumps = [], [], [], []
for s in stmts:
    c = core(s)
    if re.match(r'CREATE (FUNCTION|PROCEDURE|AGGREGATE) ', c):
        routines.append(re.sub(r'^CREATE ', 'CREATE OR REPLACE ', c))
    elif re.match(r'CREATE VIEW ', c):
        views.append(re.sub(r'^CREATE ', 'CREATE OR REPLACE ', c))
    elif re.match(r'GRANT ', c):
        grants.append(c)
    elif 'pg_extension_config_dump' in c:
        dumps.append(c)
old = open(upgrade_path).read()
prologue = old[:old.index(MARKER)] if MARKER in old else old
out = prologue.rstrip('\n') + '\n\n'
out += MARKER + version + ', as its install script defines it (unchanged ones too:\n-- replacing them is harmless, and keeps this script checkable against it).\n'
out += '\n\n'.join(routines) + '\n\n'
out += '-- The views, as ' + version + ' defines them (columns are only added, at the end).\n'
out += '\n\n'.join(views) + '\n\n'
out += '''-- Privileges as the install script grants them: public functions to PUBLIC (they check
-- the role themselves), internals to nobody but those batch_score needs.
REVOKE ALL ON ALL ROUTINES IN SCHEMA mlops FROM PUBLIC, mlops_reader, mlops_writer, mlops_admin;
REVOKE USAGE ON SCHEMA mlops FROM mlops_reader;
'''
out += '\n'.join(grants) + '\n\n'
out += '-- Every table of user data (and its sequence) is dumped by pg_dump.\n' + '\n'.join(dumps) + '\n'
open(upgrade_path, 'w').write(out)
print(len(routines), 'routines', len(views), 'views', len(grants), 'grants', len(dumps), 'dumps')
