// Every item of a list, page by page (`limit` and `continue`), each page retried as one call.

import { callApi, type ApiOperation, type RetryOptions } from './retry.js';

interface Page<T> {
  readonly items: T[];
  readonly metadata?: { readonly _continue?: string };
}

export async function listAllPages<T>(
  operation: ApiOperation,
  list: (page: { limit: number; _continue?: string }) => Promise<Page<T>>,
  pageSize: number,
  retry: RetryOptions,
): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const cont = next;
    const page = await callApi(operation, () => list({ limit: pageSize, ...(cont !== undefined ? { _continue: cont } : {}) }), retry);
    items.push(...page.items);
    next = page.metadata?._continue;
  } while (next !== undefined && next !== '');
  return items;
}
