/**
 * @module Per-request metrics in plain numbers. A node and the daemon count
 * every request they serve: by label set, the results and the latency. Done
 * with prom-client's own calls that is about 1 µs a request (label hashing on
 * each `inc`, `dec` and `observe`, a timer closure, the label objects), a
 * share of the bare path worth removing (docs/performance.md, "Round 6b").
 * So a request adds to a plain record found by one string key, and the
 * prom-client series are made from the records only when a scrape reads
 * them: counters and gauges through their `collect`, the histogram as a
 * metric object of its own that the registry formats exactly as prom-client's
 * `Histogram` (same `_bucket` / `_sum` / `_count` lines and labels).
 */
import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import { resultLabel } from './labels.js';

/** One label set's counts (its result counts are handed to the counter, then cleared, at each scrape). */
export interface RequestRecord {
  readonly labels: Readonly<Record<string, string>>;
  /** buckets[i]: observations in (bound[i-1], bound[i]]; the last one: above every bound. */
  readonly buckets: number[];
  sum: number;
  count: number;
  /** Results (ok or an error code) not yet handed to the counter. */
  readonly results: Map<string, number>;
}

/**
 * A histogram fed from `RequestRecord`s: the registry reads it like a
 * prom-client Histogram (`getForPromString`, `get`, `reset`).
 */
class RecordHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[], private readonly bounds: readonly number[], private readonly records: () => Iterable<RequestRecord>) {}

  /** What prom-client's Histogram gives its registry: each series' buckets (cumulative), +Inf, sum and count, its labels as sharedLabels. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; values: Array<{ labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName: string }>; aggregator: string }> {
    const values: Array<{ labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName: string }> = [];
    const bucket = `${this.name}_bucket`;
    for (const r of this.records()) {
      if (r.count === 0) continue;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += r.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: r.labels, value: acc, metricName: bucket });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: r.labels, value: r.count, metricName: bucket },
        { labels: {}, sharedLabels: r.labels, value: r.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: r.labels, value: r.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** As prom-client's `get`: every series' labels in one object. */
  async get(): Promise<Awaited<ReturnType<RecordHistogram['getForPromString']>>> {
    const data = await this.getForPromString();
    data.values = data.values.map((v) => ({ value: v.value, metricName: v.metricName, labels: { ...v.labels, ...v.sharedLabels } }));
    return data;
  }

  reset(): void {
    for (const r of this.records()) {
      r.buckets.fill(0);
      r.sum = 0;
      r.count = 0;
    }
  }
}

export interface RequestSeriesOptions<L extends string> {
  readonly registry: Registry;
  readonly counter: { readonly name: string; readonly help: string };
  readonly histogram: { readonly name: string; readonly help: string };
  readonly gauge: { readonly name: string; readonly help: string; readonly labelNames: readonly string[] };
  /** The labels of a record (the counter adds `result`). */
  readonly labelNames: readonly L[];
  readonly buckets: readonly number[];
}

/**
 * Requests by label set: a counter of results, a latency histogram, and the
 * requests in flight by the gauge's labels (a prefix of the record's labels).
 */
export class RequestSeries<L extends string> {
  private readonly records = new Map<string, RequestRecord>();
  private readonly inFlightBy = new Map<string, { readonly labels: Record<string, string>; n: number }>();
  private readonly bounds: readonly number[];
  readonly counter: Counter<string>;
  readonly inFlight: Gauge<string>;

  constructor(o: RequestSeriesOptions<L>) {
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    const self = this;
    this.counter = new Counter({
      name: o.counter.name, help: o.counter.help, labelNames: [...o.labelNames, 'result'], registers: [o.registry],
      collect() {
        for (const r of self.records.values()) {
          for (const [result, n] of r.results) this.inc({ ...r.labels, result }, n);
          r.results.clear();
        }
      },
    });
    /* In the order the callers declared them before (counter, histogram, gauge): the scrape lists them so. */
    o.registry.registerMetric(new RecordHistogram(o.histogram.name, o.histogram.help, o.labelNames, this.bounds, () => this.records.values()) as unknown as Metric);
    this.inFlight = new Gauge({
      name: o.gauge.name, help: o.gauge.help, labelNames: [...o.gauge.labelNames], registers: [o.registry],
      collect() {
        for (const g of self.inFlightBy.values()) this.set(g.labels, g.n);
      },
    });
  }

  /** The record of one label set, if it has one yet; `key` names the labels uniquely (their values joined by NUL). */
  find(key: string): RequestRecord | undefined {
    return this.records.get(key);
  }

  /** A new record for the label set `key`. */
  add(key: string, labels: Record<L, string>): RequestRecord {
    const r: RequestRecord = { labels, buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0, results: new Map() };
    this.records.set(key, r);
    return r;
  }

  /** The in-flight count of one gauge label set (0 until changed), if it has one yet. */
  findGauge(key: string): { n: number } | undefined {
    return this.inFlightBy.get(key);
  }

  addGauge(key: string, labels: Record<string, string>): { n: number } {
    const g = { labels, n: 0 };
    this.inFlightBy.set(key, g);
    return g;
  }

  /**
   * Run `run` as one request of record `r`, in flight in `g`; `after` sees how it ended
   * (undefined: it succeeded); `resultOf` names a success's result (default `ok`: a forwarded
   * reply may carry the node's error code).
   */
  run<T>(r: RequestRecord, g: { n: number }, run: () => Promise<T>, after?: (error: unknown) => void, resultOf?: (v: T) => string): Promise<T> {
    g.n++;
    const start = performance.now();
    const end = (error: unknown, result: string): void => {
      g.n--;
      this.done(r, (performance.now() - start) / 1000, result);
      after?.(error);
    };
    let p: Promise<T>;
    try {
      p = run();
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.then(
      (v) => {
        end(undefined, resultOf ? resultOf(v) : 'ok');
        return v;
      },
      (e: unknown) => {
        const error = e ?? new Error('undefined thrown');
        end(error, resultLabel(error));
        throw e;
      },
    );
  }

  /** A request of record `r` ended after `seconds` with `result` (ok or an error code). */
  done(r: RequestRecord, seconds: number, result: string): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    r.buckets[i]!++;
    r.sum += seconds;
    r.count++;
    r.results.set(result, (r.results.get(result) ?? 0) + 1);
  }
}
