// The errno name of a failed system call (`ENOENT`, `EACCES`, ...), for messages and decisions.

export function errnoCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : error instanceof Error ? error.message : String(error);
}
