// Native nftables: `nft -j list ruleset` parsed, and one hook's base chains evaluated for a packet.

export * from './model.js';
export { parseExpr, parseNftPriority, parseNftRuleset, parseStatement } from './parse.js';
export {
  evaluateNftChains,
  evaluateNftHook,
  nftHookChains,
  type NftEvalContext,
  type NftHookChain,
  type NftNatApplied,
  type NftOutcome,
  type NftOutcomeVerdict,
  type NftTraceStep,
} from './evaluate.js';
