// The capture script: one bash process per network namespace (entered with `nsenter --net=PATH`)
// runs that namespace's commands one after the other, so a namespace costs one process spawn from
// Node instead of a dozen. The script is fixed text; the commands reach it only as arguments
// (argument vectors, never shell strings), so nothing from the node is ever parsed as shell code.
//
// Framing: before and after each command the script writes a marker line starting with a random
// boundary on both stdout and stderr. A marker is always preceded by a newline the script wrote
// itself (so it starts a line even when the command's output does not end with one), and that
// newline is removed again when the output is cut out. The stderr markers carry timestamps
// ($EPOCHREALTIME) and tell the runner, as they arrive, which command is running: that is what
// the per-command timeout watches. Pure code: encoding the arguments and decoding the output.

/** Run a step only when a cheaper check says there may be something to dump. */
export type StepGuard =
  /** Run only when the first line of `path` is not empty (e.g. /proc/net/ip_tables_names). */
  | { readonly kind: 'file-has-content'; readonly path: string; readonly skipped: string }
  /**
   * Run unless step `step` of the same script succeeded and its output contains none of `anyOf`
   * (when that step failed or did not run in this process, the guard lets the step run).
   */
  | { readonly kind: 'output-contains'; readonly step: string; readonly anyOf: readonly string[]; readonly skipped: string }
  /**
   * Run unless step `step` of the same script succeeded and every line of its output that starts
   * with `prefix` is one of `lines` (when that step failed or did not run in this process, the
   * step runs).
   */
  | { readonly kind: 'output-lines-beyond'; readonly step: string; readonly prefix: string; readonly lines: readonly string[]; readonly skipped: string };

export type StepAction =
  | { readonly kind: 'exec'; readonly argv: readonly string[]; readonly stdin?: string }
  /**
   * Reads files under /proc/sys with shell builtins (no process): for each group, `keys` in every
   * directory matching the glob `dir`. Prints `PATH<TAB>VALUE` lines (see formatSysctlOutput); a
   * key that cannot be read is named on stderr.
   */
  | { readonly kind: 'read-sysctls'; readonly groups: readonly SysctlGroup[] };

export interface SysctlGroup {
  /** A directory, or a glob of directories, e.g. /proc/sys/net/ipv4/conf/*. */
  readonly dir: string;
  readonly keys: readonly string[];
}

export interface CaptureStep {
  /** Unique in the script: letters, digits and dashes. */
  readonly id: string;
  readonly action: StepAction;
  /** Keep the output in the shell for a later step's `output-contains` or `output-lines-beyond` guard. */
  readonly capture?: boolean;
  readonly guard?: StepGuard;
}

/** The script. Arguments: BOUNDARY, then per step: ID KIND FLAGS STDIN GUARD NGUARD GUARDARGS... NARGV ARGV... */
export const CAPTURE_SCRIPT = `export LC_ALL=C
shopt -s nullglob
IFS=
B=$1
shift
declare -A RC OUT
read_sysctls() {
  local dirpat n d key f v found
  while (($# > 0)); do
    dirpat=$1 n=$2
    shift 2
    keys=("\${@:1:n}")
    shift "$n"
    found=0
    for d in $dirpat; do
      found=1
      for key in "\${keys[@]}"; do
        f=$d/$key
        if [[ -e $f ]] && read -r v < "$f"; then printf '%s\\t%s\\n' "$f" "$v"; else printf 'cannot read %s\\n' "$f" >&2; fi
      done
    done
    ((found)) || printf 'nothing matches %s\\n' "$dirpat" >&2
  done
  return 0
}
while (($# > 0)); do
  id=$1 kind=$2 flags=$3 input=$4 gkind=$5 ng=$6
  shift 6
  garg=("\${@:1:ng}")
  shift "$ng"
  na=$1
  shift
  argv=("\${@:1:na}")
  shift "$na"
  run=1
  case $gkind in
  f)
    line=
    { read -r line < "\${garg[0]}"; } 2>/dev/null
    [[ -n $line ]] || run=0
    ;;
  o)
    g=\${garg[0]}
    if [[ \${RC[$g]-x} == 0 ]]; then
      run=0
      for s in "\${garg[@]:1}"; do
        if [[ \${OUT[$g]} == *"$s"* ]]; then run=1; break; fi
      done
    fi
    ;;
  l)
    g=\${garg[0]}
    if [[ \${RC[$g]-x} == 0 ]]; then
      run=0
      while read -r ln; do
        [[ $ln == "\${garg[1]}"* ]] || continue
        known=0
        for s in "\${garg[@]:2}"; do
          if [[ $ln == "$s" ]]; then known=1; break; fi
        done
        if ((known == 0)); then run=1; break; fi
      done <<<"\${OUT[$g]}"
    fi
    ;;
  esac
  if ((run == 0)); then
    printf '%s K %s\\n' "$B" "$id"
    printf '\\n%s K %s\\n' "$B" "$id" >&2
    continue
  fi
  printf '%s S %s\\n' "$B" "$id"
  printf '\\n%s S %s %s\\n' "$B" "$id" "$EPOCHREALTIME" >&2
  if [[ $kind == s ]]; then
    read_sysctls "\${argv[@]}"
    rc=$?
  elif [[ $flags == *c* ]]; then
    if [[ $flags == *i* ]]; then out=$("\${argv[@]}" <<<"$input"); rc=$?; else out=$("\${argv[@]}" </dev/null); rc=$?; fi
    OUT[$id]=$out
    printf '%s\\n' "$out"
  else
    if [[ $flags == *i* ]]; then "\${argv[@]}" <<<"$input"; rc=$?; else "\${argv[@]}" </dev/null; rc=$?; fi
  fi
  RC[$id]=$rc
  printf '\\n%s E %s %s\\n' "$B" "$id" "$rc"
  printf '\\n%s E %s %s %s\\n' "$B" "$id" "$rc" "$EPOCHREALTIME" >&2
done
`;

const ID_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

/** A guard as the script reads it: KIND NGUARD GUARDARGS... */
function encodeGuard(guard: StepGuard): string[] {
  switch (guard.kind) {
    case 'file-has-content':
      return ['f', '1', guard.path];
    case 'output-contains':
      return ['o', String(1 + guard.anyOf.length), guard.step, ...guard.anyOf];
    case 'output-lines-beyond':
      return ['l', String(2 + guard.lines.length), guard.step, guard.prefix, ...guard.lines];
  }
}

/** The script's arguments after the script itself: `$0`, the boundary, then the steps. */
export function encodeCaptureArgs(boundary: string, steps: readonly CaptureStep[]): string[] {
  const args = ['netdiag-capture', boundary];
  const seen = new Set<string>();
  for (const step of steps) {
    if (!ID_PATTERN.test(step.id) || seen.has(step.id)) throw new Error(`capture step id ${JSON.stringify(step.id)} is not a unique [a-z0-9-] name`);
    seen.add(step.id);
    const action = step.action;
    const stdin = action.kind === 'exec' ? action.stdin : undefined;
    const flags = `${step.capture === true ? 'c' : ''}${stdin !== undefined ? 'i' : ''}` || '-';
    const guard = step.guard;
    const guardArgs = guard === undefined ? ['-', '0'] : encodeGuard(guard);
    const argv = action.kind === 'exec' ? action.argv : action.groups.flatMap((g) => [g.dir, String(g.keys.length), ...g.keys]);
    if (argv.length === 0) throw new Error(`capture step ${step.id} has no command`);
    args.push(step.id, action.kind === 'exec' ? 'x' : 's', flags, stdin ?? '', ...guardArgs, String(argv.length), ...argv);
  }
  return args;
}

/** What the stderr stream says happened to one step. */
export interface StepProgress {
  readonly id: string;
  /** `skipped` by its guard, `started`, or `ended` with an exit status. */
  state: 'skipped' | 'started' | 'ended';
  /** Epoch ms from the script's clock; undefined when the shell has no $EPOCHREALTIME. */
  startedAt?: number;
  endedAt?: number;
  exitCode?: number;
  /** What the step wrote on stderr. */
  stderr: string;
  stderrTruncated: boolean;
}

/** An event the runner acts on: a step started (arm its timeout) or finished (disarm it). */
export type ProgressEvent = { readonly kind: 'started'; readonly id: string } | { readonly kind: 'finished'; readonly id: string };

const MAX_STDERR_PER_STEP = 16 * 1024;

function epochMs(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+([.,]\d+)?$/.test(text)) return undefined;
  return Number(text.replace(',', '.')) * 1000;
}

/**
 * Follows the script's stderr as it arrives: markers give each step's state and times, the lines
 * between them are that step's stderr. Lines before the first marker (the shell or nsenter
 * complaining) are kept as `preamble`.
 */
export class CaptureProgress {
  readonly steps = new Map<string, StepProgress>();
  readonly order: string[] = [];
  preamble = '';
  private pending = '';
  private current: StepProgress | undefined;
  private readonly prefix: string;

  constructor(boundary: string) {
    this.prefix = `${boundary} `;
  }

  /** Feeds a chunk of stderr; returns the start/finish events it completes. */
  push(chunk: string): ProgressEvent[] {
    const events: ProgressEvent[] = [];
    const text = this.pending + chunk;
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.line(line, events);
    return events;
  }

  /** Flushes a last line without newline (at process exit). */
  end(): void {
    if (this.pending !== '') this.line(this.pending, []);
    this.pending = '';
  }

  /** The step that started and has not ended. */
  get running(): StepProgress | undefined {
    return this.current;
  }

  private line(line: string, events: ProgressEvent[]): void {
    if (line.startsWith(this.prefix)) {
      const [kind, id, a, b] = line.slice(this.prefix.length).split(' ');
      if (id === undefined) return;
      if (kind === 'K') {
        this.record({ id, state: 'skipped', stderr: '', stderrTruncated: false });
        events.push({ kind: 'finished', id });
      } else if (kind === 'S') {
        const step: StepProgress = { id, state: 'started', stderr: '', stderrTruncated: false };
        const startedAt = epochMs(a);
        if (startedAt !== undefined) step.startedAt = startedAt;
        this.record(step);
        this.current = step;
        events.push({ kind: 'started', id });
      } else if (kind === 'E') {
        const step = this.steps.get(id);
        if (step === undefined) return;
        step.state = 'ended';
        const code = Number(a);
        if (Number.isInteger(code)) step.exitCode = code;
        const endedAt = epochMs(b);
        if (endedAt !== undefined) step.endedAt = endedAt;
        step.stderr = step.stderr.replace(/\n+$/, '');
        this.current = undefined;
        events.push({ kind: 'finished', id });
      }
      return;
    }
    const step = this.current;
    if (step === undefined) {
      if (line !== '' && this.preamble.length < MAX_STDERR_PER_STEP) this.preamble += `${line}\n`;
      return;
    }
    if (step.stderr.length + line.length + 1 > MAX_STDERR_PER_STEP) {
      step.stderrTruncated = true;
      return;
    }
    step.stderr += step.stderr === '' && line === '' ? '' : `${line}\n`;
  }

  private record(step: StepProgress): void {
    if (!this.steps.has(step.id)) this.order.push(step.id);
    this.steps.set(step.id, step);
  }
}

/** One step's stdout, cut out of the script's stdout. */
export interface StepOutput {
  readonly output: Buffer;
  /** False when the step's end marker is missing (the process was killed while it ran). */
  readonly complete: boolean;
}

/** Cuts the script's stdout into each step's output, by the markers. */
export function splitCaptureStdout(boundary: string, stdout: Buffer): Map<string, StepOutput> {
  const outputs = new Map<string, StepOutput>();
  const start = Buffer.from(`${boundary} S `);
  let pos = 0;
  for (;;) {
    const at = stdout.indexOf(start, pos);
    if (at < 0) break;
    const eol = stdout.indexOf(0x0a, at);
    if (eol < 0) break;
    const id = stdout.subarray(at + start.length, eol).toString('utf8');
    const endMarker = Buffer.from(`\n${boundary} E ${id} `);
    const end = stdout.indexOf(endMarker, eol + 1);
    if (end < 0) {
      outputs.set(id, { output: stdout.subarray(eol + 1), complete: false });
      break;
    }
    outputs.set(id, { output: stdout.subarray(eol + 1, end), complete: true });
    pos = end + 1;
  }
  return outputs;
}

/** What became of one step, as the runner reports it to the code that builds items. */
export interface StepResult {
  readonly id: string;
  /** Epoch ms; absent when the step never started. */
  readonly startedAt?: number;
  readonly durationMs?: number;
  /** Exit status; null when killed, skipped or never started. */
  readonly exitCode: number | null;
  /** Standard output, when the step ended. */
  readonly stdout?: Buffer;
  readonly stderr?: string;
  /** The output was cut at the runner's limit. */
  readonly truncated?: boolean;
  /** Its guard said there is nothing to dump. */
  readonly skipped?: boolean;
  /** Why it has no result although it should, for a person: timed out, deadline, namespace not entered, ... */
  readonly failure?: string;
  /** The same, for code. */
  readonly failureKind?: StepFailureKind;
}

export type StepFailureKind =
  /** Killed after the per-command timeout. */
  | 'timeout'
  /** Not run, or killed, because the run's deadline passed. */
  | 'deadline'
  /** Killed for printing more than the runner keeps. */
  | 'output-limit'
  /** The capture process could not start or enter the namespace. */
  | 'not-started'
  /** Not run because an earlier command of its process timed out or printed too much, and the rest could not run again. */
  | 'aborted'
  /** The capture process ended unexpectedly, or its output could not be cut. */
  | 'lost';
