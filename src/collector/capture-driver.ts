// The capture driver: a long-lived bash process that starts capture scripts on the agent's behalf.
// Forking the agent (a Node process of 100 MiB) for every namespace costs milliseconds each and
// blocks its event loop; a bash driver forks itself instead. The agent writes jobs to the driver's
// stdin: a line with the job's length in bytes, then the job: its id, the namespace path (or
// nothing) and the capture script's arguments (never shell code), each ended by a unit separator
// (0x1f). The length lets bash read a job with one read(2) (`read -N`; reading up to a delimiter,
// bash reads a pipe byte by byte). The driver runs each job in its own process group (`set -m`),
// so one job can be killed alone, and frames it with markers: `J id pid` on stderr when it
// starts, `D id status` on stdout and stderr when it ends (after a newline of its own, as the
// capture script's markers are). The driver's own messages go nowhere (fd 2 is /dev/null; jobs
// write to fd 3, the real stderr). Pure code: the script and the encodings.

/** Arguments: BOUNDARY CAPTURE_SCRIPT. */
export const DRIVER_SCRIPT = `export LC_ALL=C
DB=$1 CAPTURE=$2
US=$'\\037'
exec 3>&2 2>/dev/null
set -m
while IFS= read -r len; do
  IFS= read -r -N "$len" job || exit 0
  fields=()
  while [[ -n $job ]]; do
    fields+=("\${job%%"$US"*}")
    job=\${job#*"$US"}
  done
  id=\${fields[0]} netns=\${fields[1]}
  if [[ -n $netns ]]; then
    nsenter --net="$netns" bash -c "$CAPTURE" "\${fields[@]:2}" </dev/null 2>&3 &
  else
    bash -c "$CAPTURE" "\${fields[@]:2}" </dev/null 2>&3 &
  fi
  pid=$!
  printf '%s J %s %s\\n' "$DB" "$id" "$pid" >&3
  wait "$pid"
  rc=$?
  printf '\\n%s D %s %s\\n' "$DB" "$id" "$rc"
  printf '\\n%s D %s %s\\n' "$DB" "$id" "$rc" >&3
done
`;

const UNIT_SEPARATOR = '\x1f';

/** One job for the driver's stdin. Throws on a field with a NUL or a unit separator (no argument has one). */
export function encodeDriverJob(id: number, netnsPath: string | undefined, args: readonly string[]): Buffer {
  const fields = [String(id), netnsPath ?? '', ...args];
  if (fields.some((f) => f.includes('\0') || f.includes(UNIT_SEPARATOR))) throw new Error('a capture argument contains a NUL byte or a unit separator (0x1f)');
  const job = Buffer.from(fields.map((f) => `${f}${UNIT_SEPARATOR}`).join(''), 'utf8');
  return Buffer.concat([Buffer.from(`${job.length}\n`), job]);
}

/** A driver marker line (without the boundary): `J id pid` or `D id status`. */
export type DriverMarker = { readonly kind: 'started'; readonly id: number; readonly pid: number } | { readonly kind: 'done'; readonly id: number; readonly status: number };

export function parseDriverMarker(rest: string): DriverMarker | undefined {
  const m = /^([JD]) (\d+) (\d+)$/.exec(rest);
  if (m === null) return undefined;
  const id = Number(m[2]);
  const value = Number(m[3]);
  return m[1] === 'J' ? { kind: 'started', id, pid: value } : { kind: 'done', id, status: value };
}
