/**
 * `%RESPONSE_FLAGS%` as Envoy prints it: the short flags in Envoy's fixed order (the order of its
 * ResponseFlag enum, not the order they were set), comma-separated, `-` when there is none.
 */

/** Envoy's response flags, in the order Envoy prints them. */
export const RESPONSE_FLAG_ORDER: readonly string[] = [
  "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX",
  "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO",
];

const RANK = new Map(RESPONSE_FLAG_ORDER.map((f, i) => [f, i]));

/** Flags in Envoy's order, each once; flags Envoy does not define come last, in the order given. */
export function formatResponseFlags(flags: readonly string[]): string {
  if (flags.length === 0) return "-";
  if (flags.length === 1) return flags[0]!;
  const unique = [...new Set(flags)];
  unique.sort((a, b) => (RANK.get(a) ?? RESPONSE_FLAG_ORDER.length) - (RANK.get(b) ?? RESPONSE_FLAG_ORDER.length));
  return unique.join(",");
}
