"""Opens the DOCX bulletin with python-docx, as an office's Word would, and checks it against
the Markdown rendered from the same blocks: the masthead (red mark, number, issuer and date,
red line), every heading and paragraph in order with its style, and every attachment table
cell by cell; the page is A4 with GB/T 9704-2012's margins.

    check_bulletin.py bulletin.docx bulletin.md
"""

import re
import sys

import docx
from docx.shared import Mm


def markdown_blocks(text):
    """(kind, payload) in order: ("title"|"h2"|"h3"|"h4"|"p", text) and ("table", caption, rows)."""
    blocks, table, caption = [], None, None
    for line in text.splitlines():
        if re.fullmatch(r"\|( --- \|)+", line):  # the rule under the header
            continue
        if line.startswith("| "):
            cells = [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if table is None:
                table = []
            table.append(cells)
            continue
        if table is not None:
            blocks.append(("table", caption, table))
            table, caption = None, None
        if not line.strip():
            continue
        m = re.match(r"^(#+) (.*)$", line)
        if m:
            blocks.append(({1: "title", 2: "h2", 3: "h3", 4: "h4"}[len(m.group(1))], m.group(2)))
        elif line.startswith("**") and line.endswith("**"):
            caption = line[2:-2]
        else:
            blocks.append(("p", line))
    if table is not None:
        blocks.append(("table", caption, table))
    return blocks


def fail(message):
    print(f"docx check: {message}", file=sys.stderr)
    sys.exit(1)


def main(docx_path, md_path):
    document = docx.Document(docx_path)
    expected = markdown_blocks(open(md_path, encoding="utf-8").read())
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    texts = [p.text for p in paragraphs]

    # The masthead: the red mark, the number, the issuer with the date, over a red line.
    mark = paragraphs[0]
    if mark.text != "鲤城信访" or str(mark.runs[0].font.color.rgb) != "FF0000":
        fail(f"the first paragraph is not the red mark: {mark.text!r}")
    if texts[1] != "（二十二）":
        fail(f"the document number is not under the mark: {texts[1]!r}")
    if not re.search(r"中共泉州市鲤城区委.*\t2020年7月23日$", texts[2]):
        fail(f"the issuer and the date are not on the line under the number: {texts[2]!r}")
    if 'w:color="FF0000"' not in paragraphs[2]._p.xml or "w:bottom" not in paragraphs[2]._p.xml:
        fail("no red line under the masthead")

    # Every heading and paragraph in order, with its style; the title block is the mark.
    styles = {"h2": "Title", "h3": "Heading 1", "h4": "Heading 2", "p": "Normal"}
    at = 3
    tables = [b for b in expected if b[0] == "table"]
    for block in expected:
        kind = block[0]
        if kind in ("title", "table"):
            continue
        try:
            found = texts.index(block[1], at)
        except ValueError:
            fail(f"missing or out of order: {block[1]!r}")
        if paragraphs[found].style.name != styles[kind]:
            fail(f"{block[1]!r} has style {paragraphs[found].style.name}, not {styles[kind]}")
        at = found + 1

    # Each attachment: its label and caption, then its table, cell by cell.
    if len(document.tables) != len(tables):
        fail(f"{len(document.tables)} tables, the Markdown has {len(tables)}")
    for n, ((_, caption, rows), table) in enumerate(zip(tables, document.tables), start=1):
        if f"附件{n}" not in texts or caption not in texts:
            fail(f"attachment {n}: label or caption {caption!r} missing")
        got = [[cell.text for cell in row.cells] for row in table.rows]
        if got != rows:
            fail(f"attachment {n} ({caption}): cells differ\n  docx: {got}\n  md:   {rows}")

    # A4, with the margins of GB/T 9704-2012 5.2.1 (to the nearest millimetre).
    s = document.sections[0]
    near = lambda length, mm: abs(length - Mm(mm)) < Mm(1)
    if not (near(s.page_width, 210) and near(s.page_height, 297)):
        fail("the page is not A4")
    if not (near(s.top_margin, 37) and near(s.left_margin, 28) and near(s.right_margin, 26) and near(s.bottom_margin, 35)):
        fail("the margins are not GB/T 9704-2012's")
    cells = sum(len(r) * len(r[0]) for (_, _, r) in tables)
    print(f"docx check: masthead, {at - 3} paragraphs and {len(tables)} tables ({cells} cells) as in the Markdown")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
