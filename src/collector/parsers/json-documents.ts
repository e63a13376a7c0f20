// Tools that print one JSON document per object (crictl inspectp with several ids) concatenate
// them: this cuts such text into its top-level values. Pure code.

/** The top-level JSON values of `text`, parsed, in order; throws a SyntaxError naming the offset when one is malformed. */
export function parseJsonDocuments(text: string): unknown[] {
  const documents: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      if (depth === 0) throw new SyntaxError(`a top-level string at offset ${i}: expected an object or array`);
    } else if (c === 0x7b || c === 0x5b) {
      if (depth === 0) start = i;
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth < 0) throw new SyntaxError(`unbalanced ${text[i]} at offset ${i}`);
      if (depth === 0) documents.push(JSON.parse(text.slice(start, i + 1)) as unknown);
    } else if (depth === 0 && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
      throw new SyntaxError(`unexpected ${JSON.stringify(text[i])} between documents at offset ${i}`);
    }
  }
  if (depth !== 0 || inString) throw new SyntaxError('the last document is not complete');
  return documents;
}
