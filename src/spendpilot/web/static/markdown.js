/** A small markdown renderer that builds DOM nodes from text nodes only.
 *
 * Untrusted text never reaches innerHTML: every character of the source ends up in a
 * text node, so markup in the source shows as text. Supported: headings, paragraphs,
 * bold, italic, inline and fenced code, ordered/unordered (nested) lists, pipe tables,
 * block quotes, rules and http(s) links.
 */

import { h } from "./dom.js";

const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

const INLINE = new RegExp(
  [
    "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)", // 1,2 code
    "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 3 bold
    "__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)", // 4 bold
    "\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*", // 5 italic
    "(?<!\\w)_(?=[^\\s_])([\\s\\S]*?[^\\s_])_(?!\\w)", // 6 italic
    "\\[([^\\]]+)\\]\\(\\s*([^)\\s]+)\\s*\\)", // 7,8 link
  ].join("|"),
  "g",
);

function safeHref(url) {
  return /^(https?:\/\/|mailto:)/i.test(url) ? url : null;
}

/** Inline markdown -> array of nodes. */
export function inline(text) {
  const out = [];
  let last = 0;
  // A fresh regex per call: the recursion for bold/italic must not move the caller's lastIndex.
  const re = new RegExp(INLINE.source, "g");
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    if (m[2] !== undefined) out.push(h("code", {}, m[2].trim() ? m[2].replace(/^ (.*) $/, "$1") : m[2]));
    else if (m[3] !== undefined || m[4] !== undefined) out.push(h("strong", {}, inline(m[3] ?? m[4])));
    else if (m[5] !== undefined || m[6] !== undefined) out.push(h("em", {}, inline(m[5] ?? m[6])));
    else if (m[7] !== undefined) {
      const href = safeHref(m[8]);
      out.push(href ? h("a", { href, rel: "noopener noreferrer", target: "_blank" }, inline(m[7])) : document.createTextNode(m[0]));
    }
    last = re.lastIndex;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  const cells = [];
  let cell = "";
  for (let i = 0; i < row.length; i += 1) {
    if (row[i] === "\\" && row[i + 1] === "|") {
      cell += "|";
      i += 1;
    } else if (row[i] === "|") {
      cells.push(cell.trim());
      cell = "";
    } else cell += row[i];
  }
  cells.push(cell.trim());
  return cells;
}

function isTableStart(lines, i) {
  return lines[i].includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes("-");
}

function parseTable(lines, i) {
  const head = splitRow(lines[i]);
  const aligns = splitRow(lines[i + 1]).map((c) => {
    const left = c.startsWith(":");
    const right = c.endsWith(":");
    return right && left ? "center" : right ? "right" : left ? "left" : "";
  });
  i += 2;
  const rows = [];
  while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
    rows.push(splitRow(lines[i]));
    i += 1;
  }
  const cellAttrs = (col) => (aligns[col] ? { class: `align-${aligns[col]}` } : {});
  const table = h(
    "table",
    {},
    h("thead", {}, h("tr", {}, head.map((c, col) => h("th", { scope: "col", ...cellAttrs(col) }, inline(c))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, head.map((_, col) => h("td", cellAttrs(col), inline(r[col] ?? "")))))),
  );
  return [h("div", { class: "table-wrap" }, table), i];
}

function indentOf(line) {
  return line.match(/^\s*/)[0].replace(/\t/g, "    ").length;
}

function parseList(lines, i) {
  const first = LIST_ITEM.exec(lines[i]);
  const indent = indentOf(first[1]);
  const ordered = /\d/.test(first[2]);
  const list = h(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.setAttribute("start", String(parseInt(first[2], 10)));
  let item = null;
  let text = [];
  const closeItem = () => {
    if (item) item.prepend(...inline(text.join(" ")));
    text = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      const next = lines[i + 1];
      const nextItem = next !== undefined && LIST_ITEM.exec(next);
      if (nextItem && indentOf(nextItem[1]) >= indent) {
        i += 1;
        continue;
      }
      break;
    }
    const m = LIST_ITEM.exec(line);
    if (m) {
      const ind = indentOf(m[1]);
      if (ind < indent) break;
      if (ind > indent && item) {
        const [nested, next] = parseList(lines, i);
        closeItem();
        item.append(nested);
        i = next;
        continue;
      }
      if (/\d/.test(m[2]) !== ordered) break;
      closeItem();
      item = h("li");
      list.append(item);
      text = [m[3]];
      i += 1;
      continue;
    }
    if (indentOf(line) > indent && item) {
      text.push(line.trim());
      i += 1;
      continue;
    }
    break;
  }
  closeItem();
  return [list, i];
}

function startsBlock(lines, i) {
  const line = lines[i];
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || LIST_ITEM.test(line) || isTableStart(lines, i);
}

function parseBlocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[1]) && FENCE.test(lines[i]))) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1;
      const code = h("code", fence[2] ? { class: `language-${fence[2]}` } : {}, body.join("\n"));
      out.push(h("pre", {}, code));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      // Inside a message, "#" is a section heading below the page's own h1/h2.
      const level = Math.min(6, heading[1].length + 2);
      out.push(h(`h${level}`, { class: `md-h${heading[1].length}` }, inline(heading[2])));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      out.push(h("hr"));
      i += 1;
      continue;
    }
    if (isTableStart(lines, i)) {
      const [table, next] = parseTable(lines, i);
      out.push(table);
      i = next;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) {
        body.push(QUOTE.exec(lines[i])[1]);
        i += 1;
      }
      out.push(h("blockquote", {}, parseBlocks(body)));
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const [list, next] = parseList(lines, i);
      out.push(list);
      i = next;
      continue;
    }
    const para = [line.trim()];
    i += 1;
    while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) {
      para.push(lines[i].trim());
      i += 1;
    }
    out.push(h("p", {}, inline(para.join(" "))));
  }
  return out;
}

/** Markdown source -> DocumentFragment. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  fragment.append(...parseBlocks(lines));
  return fragment;
}
