/** A physical line of a file: `start`..`end` is its content without the line break. */
export interface Line {
  /** 1-based, as editors and error messages count lines. */
  readonly number: number;
  readonly start: number;
  readonly end: number;
}

/** Splits text into lines; `\r\n` counts as one break so files written on Windows keep their endings. */
export function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf("\n", start);
    const next = newline === -1 ? text.length : newline + 1;
    const end = newline === -1 ? text.length : newline > start && text[newline - 1] === "\r" ? newline - 1 : newline;
    lines.push({ number: lines.length + 1, start, end });
    start = next;
  }
  return lines;
}

/**
 * Numbers lines for messages: the line breaks are found once, and each lookup is a binary search, so a file with a
 * setting on every line costs no more than reading it (counting from the start per setting was quadratic).
 */
export function lineNumbering(text: string): (offset: number) => number {
  const breaks: number[] = [];
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) breaks.push(at);
  return (offset) => {
    // The number of breaks before `offset`, plus one.
    let low = 0;
    let high = breaks.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (breaks[middle] < offset) low = middle + 1;
      else high = middle;
    }
    return low + 1;
  };
}

/** The line break the file already uses, so that an added line looks like its neighbours. */
function lineBreakOf(text: string): string {
  return text.includes("\r\n") ? "\r\n" : "\n";
}

/** Replacement of `start`..`end` by `text`. */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** Applies edits that do not overlap, in any order. */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  let result = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    result = result.slice(0, edit.start) + edit.text + result.slice(edit.end);
  }
  return result;
}

/**
 * An edit that inserts `line` as a line of its own at `offset`, which must be the start of a line or the end of the
 * text; a last line without a break gets one first, so the previous line stays as it was.
 */
export function insertLine(text: string, offset: number, line: string): Edit {
  const lineBreak = lineBreakOf(text);
  const needsBreak = offset === text.length && text.length > 0 && !text.endsWith("\n");
  return { start: offset, end: offset, text: `${needsBreak ? lineBreak : ""}${line}${lineBreak}` };
}

/** Where the line holding `offset` starts. */
export function lineStart(text: string, offset: number): number {
  return text.lastIndexOf("\n", offset - 1) + 1;
}

/** Where the line after the one holding the character before `offset` starts; the text's length on the last line. */
export function nextLineStart(text: string, offset: number): number {
  const newline = text.indexOf("\n", Math.max(offset - 1, 0));
  return newline === -1 ? text.length : newline + 1;
}
