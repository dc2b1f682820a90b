#!/usr/bin/env python3
"""Checks for tests/integration/drift_report_html.sh (standard library only).

    drift_report_html.py page FILE.html EXPECT.json   the page's markup
    drift_report_html.py png FILE.png                  a screenshot is not blank

page: the document parses with html.parser into balanced elements of a
small set of tags (no script, no iframe, no tag a feature or category name
could have opened), no event handlers, no link off the page, nothing to fetch
(no http(s)://, src, url(), @import); each inline <svg> is well-formed XML;
and what EXPECT.json lists is there: the verdict badge, "N of M", the feature
names and category labels as text (so escaped in the markup), one table row
and one chart per feature, marked new categories, at most 31 bars' labels per
categorical chart, numeric edges as labels.

png: decodes the PNG itself (zlib and the five row filters), then counts
distinct colours and the pixels of the report's colours: the reference and
current bars, and the badge's."""
import json
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser

ALLOWED = {'html', 'head', 'meta', 'title', 'style', 'body', 'header', 'h1', 'h2', 'h3', 'dl', 'dt', 'dd',
           'strong', 'code', 'section', 'span', 'div', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'a',
           'footer', 'p', 'svg', 'g', 'rect', 'line', 'text'}
VOID = {'meta'}
SVG_SELF_CLOSING = {'rect', 'line'}


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr)
    sys.exit(1)


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.tags = []
        self.attrs = []
        self.problems = []
        self.texts = []            # (path of (tag, class), text)
        self.rows = 0
        self.cards = 0

    def handle_starttag(self, tag, attrs):
        self._open(tag, attrs)
        if tag not in VOID and tag not in SVG_SELF_CLOSING:
            self.stack.append((tag, dict(attrs).get('class', '')))

    def handle_startendtag(self, tag, attrs):
        self._open(tag, attrs)

    def _open(self, tag, attrs):
        self.tags.append(tag)
        if tag not in ALLOWED:
            self.problems.append('tag <%s>' % tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v))
            if k.startswith('on') or k in ('src', 'srcset', 'action', 'formaction', 'xlink:href', 'background'):
                self.problems.append('attribute %s on <%s>' % (k, tag))
            if k == 'href' and not (v or '').startswith('#'):
                self.problems.append('href %r' % v)
            if k == 'style' and re.search(r'url\(|expression|@import', v or '', re.I):
                self.problems.append('style %r' % v)
        if tag == 'tr' and any(t == 'tbody' for t, _ in self.stack):
            self.rows += 1
        if tag == 'section' and 'card' in dict(attrs).get('class', ''):
            self.cards += 1

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problems.append('end tag </%s>' % tag)
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.problems.append('end tag </%s> closes %r' % (tag, self.stack[-1:]))
            return
        self.stack.pop()

    def handle_data(self, data):
        if data.strip():
            self.texts.append((tuple(self.stack), data))

    def handle_decl(self, decl):
        if decl.lower() != 'doctype html':
            self.problems.append('declaration ' + decl)

    def handle_pi(self, data):
        self.problems.append('processing instruction ' + data)

    def unknown_decl(self, data):
        self.problems.append('declaration ' + data)


def check_page(path, expect_path):
    raw = open(path, encoding='utf-8').read()
    expect = json.load(open(expect_path))
    if not raw.startswith('<!DOCTYPE html>'):
        fail('the page does not start with <!DOCTYPE html>')
    for bad in ('http://', 'https://', '<script', 'javascript:', '@import', 'url(', '<link', '<iframe', '<object',
                '<embed', '<img', '<!--', '<![CDATA['):
        if bad.lower() in raw.lower():
            fail('the page holds %r' % bad)
    p = Page()
    p.feed(raw)
    p.close()
    if p.problems:
        fail('markup: ' + '; '.join(p.problems[:10]))
    if p.stack:
        fail('elements left open: %r' % p.stack)
    if p.tags.count('html') != 1 or p.tags.count('body') != 1 or p.tags.count('style') != 1:
        fail('not one html, body and style')
    if 'script' in p.tags:
        fail('a script element')

    svgs = re.findall(r'<svg\b.*?</svg>', raw, re.S)
    if len(svgs) != expect['features']:
        fail('%d charts for %d features' % (len(svgs), expect['features']))
    for s in svgs:
        try:
            ET.fromstring(s)
        except ET.ParseError as e:
            fail('an SVG chart is not well-formed XML (%s): %s' % (e, s[:300]))
    if p.rows != expect['features'] or p.cards != expect['features']:
        fail('%d table rows and %d chart cards for %d features' % (p.rows, p.cards, expect['features']))

    def texts_in(tag=None, cls=None):
        return [t for path_, t in p.texts
                if (tag is None or (path_ and path_[-1][0] == tag))
                and (cls is None or (path_ and cls in path_[-1][1].split()))]

    badges = texts_in('span', 'badge')
    if badges != [expect['badge']]:
        fail('badge %r, expected %r' % (badges, expect['badge']))
    big = ''.join(t for path_, t in p.texts if any('big' in c.split() for _, c in path_))
    if expect['of'] not in big:
        fail('verdict line %r lacks %r' % (big, expect['of']))
    titles = texts_in('title')
    if not titles or expect['baseline'] not in titles[0]:
        fail('title %r lacks the baseline name %r' % (titles[:1], expect['baseline']))
    feats = texts_in('a')
    if sorted(feats) != sorted(expect['feature_names']):
        fail('table features %r, expected %r' % (feats, expect['feature_names']))
    h3 = [t.strip() for path_, t in p.texts if path_ and path_[-1][0] == 'h3']
    for f in expect['feature_names']:
        if f not in h3:
            fail('no chart titled %r' % f)
    for name in expect.get('escaped', []):
        # the name is text to the parser, and in the markup only in escaped form
        if not any(name in t for _, t in p.texts):
            fail('%r is not in the page as text' % name)
    xticks = texts_in('text', 'xtick')
    for label in expect.get('labels', []):
        if label not in xticks:
            fail('no axis label %r (have %r)' % (label, xticks[:80]))
    new = texts_in('text', 'new')
    for label in expect.get('new_labels', []):
        if label not in new:
            fail('new category %r not marked (marked: %r)' % (label, new))
    others = texts_in('text', 'other')
    for label in expect.get('other_labels', []):
        if label not in others:
            fail('no %r bar (have %r)' % (label, others))
    for s in svgs:
        if s.count('<g>') > 41:                 # a <g> per bin or category, with its tooltip
            fail('a chart draws %d groups of bars' % s.count('<g>'))
    print('page ok: %d features, %d charts, badge %s, %d bytes' % (expect['features'], len(svgs), badges[0], len(raw)))


def decode_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        fail('%s is not a PNG' % path)
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', chunk)
        elif kind == b'IDAT':
            idat += chunk
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail('unexpected PNG format: depth %d, colour type %d, interlace %d' % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif f == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        elif f != 0:
            fail('bad PNG filter %d' % f)
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_png(path, badge_colour):
    width, height, bpp, rows = decode_png(path)
    counts = {}
    for line in rows:
        for x in range(0, len(line), bpp):
            px = line[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    total = width * height
    background = max(counts.values())
    ref = counts.get(bytes((0x4c, 0x78, 0xa8)), 0)
    cur = counts.get(bytes((0xf5, 0x85, 0x18)), 0)
    badge = counts.get(bytes.fromhex(badge_colour), 0)
    print('screenshot %s: %dx%d, %d colours, %.1f%% not the background colour, %d reference-bar, '
          '%d current-bar and %d badge pixels' % (path, width, height, len(counts), 100.0 * (total - background) / total,
                                                  ref, cur, badge))
    if len(counts) < 50:
        fail('the screenshot has %d colours: blank?' % len(counts))
    if (total - background) < total * 0.05:
        fail('the screenshot is almost all one colour')
    if ref < 2000 or cur < 2000:
        fail('the bars are not drawn (%d reference and %d current pixels)' % (ref, cur))
    if badge < 500:
        fail('the verdict badge is not drawn (%d pixels of #%s)' % (badge, badge_colour))


if __name__ == '__main__':
    if sys.argv[1] == 'page':
        check_page(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'png':
        check_png(sys.argv[2], sys.argv[3])
    else:
        fail('usage: page FILE EXPECT | png FILE BADGE_HEX')
