// `ss -t -u -l -n -e` output: the inodes of the listening sockets, to find their owners. Pure code.

/** The socket inodes (`ino:N`, N > 0) named in `ss -e` output, in order, each once. */
export function parseSocketInodes(text: string): number[] {
  const inodes = new Set<number>();
  for (const m of text.matchAll(/\bino:(\d+)\b/g)) {
    const inode = Number(m[1]);
    if (Number.isSafeInteger(inode) && inode > 0) inodes.add(inode);
  }
  return [...inodes];
}
