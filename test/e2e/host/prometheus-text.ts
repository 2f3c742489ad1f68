/**
 * Scraped /metrics → families, with a real Prometheus text-format parser
 * (parse-prometheus-text-format, a port of the Prometheus Python client's parser).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheusTextFormat = require('parse-prometheus-text-format') as (text: string) => PrometheusFamily[];

export interface PrometheusSample {
  value: string;
  labels?: Record<string, string>;
}

export interface PrometheusFamily {
  name: string;
  help: string;
  type: 'GAUGE' | 'COUNTER' | 'UNTYPED' | 'HISTOGRAM' | 'SUMMARY';
  metrics: PrometheusSample[];
}

export function parseExposition(text: string): Map<string, PrometheusFamily> {
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(families: Map<string, PrometheusFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name);
  const m = f?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return m === undefined ? undefined : Number(m.value);
}
