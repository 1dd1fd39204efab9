/**
 * The ledger's stream categories (DESIGN.md, "Streams"): `category-id` names. A subscription to
 * the whole log is filtered on these prefixes, so a store's own system streams never reach a
 * projection.
 */
export const LEDGER_STREAM_PREFIXES: readonly string[] = ['person-', 'submission-', 'transfer-', 'pool-', 'payout-', 'reversal-', 'interest-', 'audit-']
