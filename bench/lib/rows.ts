/** Builds {@link ResultRow}s from run values: medians, ratios of medians, rounded for the JSON file. */
import { median, ratio, significant } from "./stats.ts";
import type { ResultRow } from "./types.ts";

export interface RowInput {
  scenario: string;
  metric: string;
  better: ResultRow["better"];
  /** Legate's value in each run. */
  legate: readonly number[];
  /** The peer's name and values in each run (alternated with Legate's); absent when there is none. */
  peer?: { name: string; values: readonly number[] };
  /** The no-proxy values in each run; absent when not applicable. */
  direct?: readonly number[];
  /**
   * A target: given the finished row, whether it is met. `text` says what it is, e.g.
   * `≥ 0.9× bare Worker`.
   */
  target?: { text: string; met: (row: ResultRow) => boolean };
}

export function makeRow(input: RowInput): ResultRow {
  const legate = median(input.legate);
  const peer = input.peer ? median(input.peer.values) : null;
  const direct = input.direct ? median(input.direct) : null;
  const row: ResultRow = {
    scenario: input.scenario,
    metric: input.metric,
    legate: significant(legate),
    peer_name: input.peer?.name ?? null,
    peer: peer === null ? null : significant(peer),
    direct: direct === null ? null : significant(direct),
    ratio_to_peer: nullable(ratio(legate, peer)),
    ratio_to_direct: nullable(ratio(legate, direct)),
    runs: {
      legate: input.legate.map((v) => significant(v)),
      peer: input.peer ? input.peer.values.map((v) => significant(v)) : null,
      direct: input.direct ? input.direct.map((v) => significant(v)) : null,
    },
    better: input.better,
  };
  if (input.target) row.target = { text: input.target.text, met: input.target.met(row) };
  return row;
}

function nullable(v: number | null): number | null {
  return v === null ? null : significant(v, 3);
}
