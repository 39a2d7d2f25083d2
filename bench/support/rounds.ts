import type { LoadResult } from './load.js';
import { median } from './percentile.js';

/** One measured run of one route. */
export interface Row {
  name: string;
  result: LoadResult;
}

/** A floor and the routes measured beside it in one round, at one connection count. */
export interface Round {
  floor: Row;
  measured: Row[];
}

/** A route's figures over every round: medians, and its share of the floor as the median of the shares measured in the same round. */
export interface MedianRow {
  name: string;
  connections: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Median over rounds of (this route's requests/s ÷ the floor's in the same round); 1 for the floor. */
  share: number;
  generatorCpu: number;
  /** Median CPU per answer of the process that answered, in µs (undefined when not measured). */
  serverCpuMicros: number | undefined;
  /** Summed over rounds. */
  failures: number;
}

/**
 * The order routes run in within round `index`: as listed in even rounds, reversed in odd ones, so neither the
 * floor nor any route always runs first (right after a warm cache) or last (after the others' garbage).
 */
export function alternate<T>(items: T[], index: number): T[] {
  return index % 2 === 0 ? items : [...items].reverse();
}

/** The floor's medians, then each measured route's, over rounds taken at one connection count. */
export function mediansAgainstFloor(rounds: Round[]): MedianRow[] {
  const first = rounds[0];
  if (!first) return [];
  const of = (name: string, pick: (round: Round) => Row | undefined, share: (round: Round, row: Row) => number): MedianRow => {
    const rows = rounds.map((round) => ({ round, row: pick(round) })).filter((entry): entry is { round: Round; row: Row } => entry.row !== undefined);
    const results = rows.map(({ row }) => row.result);
    return {
      name,
      connections: results[0]?.connections ?? 0,
      requestsPerSecond: median(results.map((result) => result.requestsPerSecond)),
      p50Ms: median(results.map((result) => result.p50Ms)),
      p99Ms: median(results.map((result) => result.p99Ms)),
      share: median(rows.map(({ round, row }) => share(round, row))),
      generatorCpu: median(results.map((result) => result.generatorCpu)),
      serverCpuMicros: medianOfMeasured(results.map((result) => result.serverCpuMicros)),
      failures: results.reduce((sum, result) => sum + result.failures, 0),
    };
  };
  return [
    of(first.floor.name, (round) => round.floor, () => 1),
    ...first.measured.map(({ name }) =>
      of(
        name,
        (round) => round.measured.find((row) => row.name === name),
        (round, row) => row.result.requestsPerSecond / round.floor.result.requestsPerSecond,
      ),
    ),
  ];
}

/** The median of the values measured, undefined when none was. */
export function medianOfMeasured(values: (number | undefined)[]): number | undefined {
  const measured = values.filter((value): value is number => value !== undefined);
  return measured.length === 0 ? undefined : median(measured);
}

/** Median over rounds of `name`'s requests/s divided by `reference`'s in the same round (NaN when either is missing). */
export function medianShareOf(rounds: Round[], name: string, reference: string): number {
  const find = (round: Round, wanted: string): Row | undefined => (round.floor.name === wanted ? round.floor : round.measured.find((row) => row.name === wanted));
  const shares = rounds.flatMap((round) => {
    const row = find(round, name);
    const base = find(round, reference);
    return row && base ? [row.result.requestsPerSecond / base.result.requestsPerSecond] : [];
  });
  return shares.length === 0 ? Number.NaN : median(shares);
}
