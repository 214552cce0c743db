// Offline checks of dashboards/*.json (run through contrib/dashboards/check, which says
// where the pinned node modules live). No network: tsc and this script only read files.
//
//   schema       the dashboard, each panel's options and custom field config, and each target
//                type-check against Grafana's published data model (@grafana/schema) in
//                strict mode, so an unknown field or a wrong type fails;
//   metrics      every metric name in a panel expression or a variable query is in the metric
//                table of docs/metrics.md (histograms: only their _bucket/_sum/_count series);
//   datasource   a `datasource` variable (type datasource, query prometheus), used by every
//                panel, target and query variable as {"type":"prometheus","uid":"${datasource}"};
//   variables    `probe` and `domain` or `target` exist; query variables are label_values()
//                with multi, includeAll and allValue ".*";
//   expressions  template variables only as label=~"$var" (defined ones), $__rate_interval,
//                $__range and $__interval only inside [...]; refIds unique per panel;
//   ids          panel ids set and unique within the dashboard;
//   promql       every expression, with the variables substituted as Grafana does (All = .*,
//                $__rate_interval = 1m, $__range = 1h), and every variable's selector parse
//                as PromQL (`promtool check rules`, from the prometheus package);
//   uid          uid set (at most 40 characters of [A-Za-z0-9_-]) and schemaVersion >= 39;
//   uids-unique  no two dashboards share a uid (once, across all dashboards).
//
// Usage: node check.mjs REPO_ROOT NODE_DIR
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [root, nodeDir] = process.argv.slice(2);
const dashDir = path.join(root, 'dashboards');
const DS = '${datasource}';
let passed = 0;
let failed = 0;

function report(name, problems) {
  if (problems.length === 0) {
    passed++;
    console.log(`ok    ${name}`);
  } else {
    failed++;
    console.log(`FAIL  ${name}`);
    for (const p of problems) console.log(`        ${p}`);
  }
}

// --- docs/metrics.md: the metric table -------------------------------------------------------
function knownMetrics() {
  const text = fs.readFileSync(path.join(root, 'docs/metrics.md'), 'utf8');
  const names = new Set();
  for (const line of text.split('\n')) {
    const m = line.match(/^\| `(mailauth_[a-z0-9_]+)` \| ([a-z]+) \|/);
    if (!m) continue;
    const [, name, type] = m;
    if (type === 'histogram') {
      for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    } else {
      names.add(name);
    }
  }
  if (names.size === 0) throw new Error('docs/metrics.md: no metric table found');
  return names;
}

// --- PromQL scanning ------------------------------------------------------------------------
const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or',
  'unless', 'offset', 'inf', 'nan', 'atan2', 'start', 'end',
]);

// Metric names referenced by an expression: identifiers outside strings, label matchers,
// range selectors and grouping clauses that are not function calls or keywords.
function metricNames(expr) {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' '); // template variables: checked apart
  s = s.replace(/\{[^{}]*\}/g, ' ');
  s = s.replace(/\[[^\[\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ');
  s = s.replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  s = s.replace(/(^|[^A-Za-z0-9_:.])[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/g, '$1 ');
  const names = [];
  const re = /[A-Za-z_:][A-Za-z0-9_:]*/g;
  let m;
  while ((m = re.exec(s)) !== null) {
    const id = m[0];
    const rest = s.slice(m.index + id.length);
    if (/^\s*\(/.test(rest)) continue; // function or aggregation
    if (KEYWORDS.has(id.toLowerCase())) continue;
    names.push(id);
  }
  return names;
}

// Template variable usage: only `label=~"$var"` and, inside [...], the range macros.
function variableProblems(expr, defined) {
  const problems = [];
  const allowedRange = /^\$__(rate_interval|range|interval)\b/;
  const re = /\$\{?[A-Za-z_][A-Za-z0-9_]*/g;
  let m;
  while ((m = re.exec(expr)) !== null) {
    const at = m.index;
    const tok = m[0];
    if (/^\$__/.test(tok)) {
      const before = expr.slice(0, at);
      const inRange = before.lastIndexOf('[') > before.lastIndexOf(']');
      if (!allowedRange.test(expr.slice(at)) || !inRange) {
        problems.push(`${tok} outside a range selector [...] (or not $__rate_interval/$__range/$__interval)`);
      }
      continue;
    }
    const name = tok.replace(/^\$\{?/, '');
    const ctx = expr.slice(0, at + tok.length + 1);
    if (!new RegExp(`[A-Za-z_][A-Za-z0-9_]*\\s*=~\\s*"\\$${name}"$`).test(ctx)) {
      problems.push(`$${name} used outside a label matcher label=~"$${name}"`);
    } else if (!defined.has(name)) {
      problems.push(`$${name} is not a variable of this dashboard`);
    }
  }
  return problems;
}

function isDatasourceRef(ds) {
  return ds && typeof ds === 'object' && ds.type === 'prometheus' && ds.uid === DS &&
    Object.keys(ds).length === 2;
}

function flattenPanels(panels) {
  const out = [];
  for (const p of panels || []) {
    out.push(p);
    if (p.type === 'row') out.push(...(p.panels || []));
  }
  return out;
}

const label = (p) => `panel ${p.id ?? '?'} "${p.title ?? ''}"`;

// --- schema: generated TypeScript checked by tsc ------------------------------------------------
// Panel plugin id -> directory and module name of its published options types.
const PANEL_TYPES = {
  stat: ['stat', 'StatPanelCfg', false],
  table: ['table', 'TablePanelCfg', true],
  'state-timeline': ['statetimeline', 'StateTimelinePanelCfg', true],
  'status-history': ['statushistory', 'StatusHistoryPanelCfg', true],
  timeseries: ['timeseries', 'TimeSeriesPanelCfg', true],
  bargauge: ['bargauge', 'BarGaugePanelCfg', false],
  gauge: ['gauge', 'GaugePanelCfg', false],
  piechart: ['piechart', 'PieChartPanelCfg', true],
  text: ['text', 'TextPanelCfg', false],
};

const PRELUDE = `import type { Dashboard, DataQuery } from '@grafana/schema';
${Object.entries(PANEL_TYPES).map(([, [dir, mod]]) =>
  `import type * as ${mod} from '@grafana/schema/dist/esm/raw/composable/${dir}/panelcfg/x/${mod}_types.gen';`).join('\n')}

// The JSON form of a schema type: string enums become the union of their values (JSON holds
// "thresholds", not FieldColorModeId.Thresholds); numeric enums accept their member values.
type Wire<T> = T extends string ? \`\${T}\`
  : T extends number | boolean | null | undefined ? T
  : T extends Array<infer U> ? Array<Wire<U>>
  : T extends object ? { [K in keyof T]: Wire<T[K]> }
  : T;

// Grafana's Prometheus query model (the prometheus datasource's dataquery schema), which
// @grafana/schema does not publish: the common DataQuery plus the Prometheus fields.
interface PromQuery extends Wire<Omit<DataQuery, 'datasource'>> {
  datasource: { type: 'prometheus'; uid: '${DS}' };
  expr: string;
  editorMode?: 'code' | 'builder';
  format?: 'time_series' | 'table' | 'heatmap';
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  legendFormat?: string;
  interval?: string;
  intervalFactor?: number;
}
`;

function schemaSources(dashboards) {
  // For each dashboard: its .ts text and a map from line ranges to what they hold.
  const files = [];
  for (const { file, json } of dashboards) {
    const lines = PRELUDE.split('\n');
    const spans = [];
    const emit = (what, text) => {
      const start = lines.length + 1;
      lines.push(...text.split('\n'));
      spans.push([start, lines.length, what]);
    };
    const lit = (v) => JSON.stringify(v, null, 2);
    const { panels, ...rest } = json;
    emit('dashboard', `export const dashboard: Wire<Dashboard> = {`);
    for (const [k, v] of Object.entries(rest)) emit(`dashboard field "${k}"`, `  ${JSON.stringify(k)}: ${lit(v)},`);
    emit('dashboard', `  "panels": [`);
    for (const p of panels || []) emit(label(p), `${lit(p)},`);
    emit('dashboard', `  ],\n};`);
    flattenPanels(panels).forEach((p, i) => {
      if (p.type === 'row') return;
      const t = PANEL_TYPES[p.type];
      const id = String(i);
      if (!t) return; // reported by the caller: no published options type
      const [, mod, hasFieldConfig] = t;
      emit(`${label(p)} options (${mod}.Options)`, `export const p${id}_options: Wire<${mod}.Options> = ${lit(p.options ?? {})};`);
      const custom = p.fieldConfig?.defaults?.custom;
      if (custom !== undefined) {
        const ty = hasFieldConfig ? `Wire<${mod}.FieldConfig>` : 'Record<string, never>';
        emit(`${label(p)} fieldConfig.defaults.custom`, `export const p${id}_custom: ${ty} = ${lit(custom)};`);
      }
      emit(`${label(p)} targets`, `export const p${id}_targets: PromQuery[] = ${lit(p.targets ?? [])};`);
    });
    for (const v of json.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      emit(`variable ${v.name}`, `export const var_${v.name}_datasource: PromQuery['datasource'] = ${lit(v.datasource)};`);
    }
    files.push({ file, name: file.replace(/\.json$/, '.ts'), text: lines.join('\n') + '\n', spans });
  }
  return files;
}

function runTsc(dashboards) {
  const gen = path.join(nodeDir, 'gen');
  fs.rmSync(gen, { recursive: true, force: true });
  fs.mkdirSync(gen, { recursive: true });
  const files = schemaSources(dashboards);
  for (const f of files) fs.writeFileSync(path.join(gen, f.name), f.text);
  fs.writeFileSync(path.join(gen, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'esnext',
      moduleResolution: 'bundler', skipLibCheck: true, types: [],
      noUnusedLocals: false,
    },
    include: ['*.ts'],
  }, null, 2));
  let out = '';
  try {
    execFileSync(process.execPath, [path.join(nodeDir, 'node_modules/typescript/bin/tsc'), '-p', gen, '--pretty', 'false'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    out = (e.stdout || '') + (e.stderr || '');
    if (!out.trim()) throw e;
  }
  // Error lines: "<file>.ts(line,col): error TSxxxx: message" (continuation lines indented).
  const byFile = new Map(files.map((f) => [f.name, []]));
  let last = null;
  for (const line of out.split('\n')) {
    const m = line.match(/([^/\\(]+\.ts)\((\d+),(\d+)\): (error TS\d+: .*)$/);
    if (m) {
      const f = files.find((x) => x.name === m[1]);
      if (!f) { last = null; console.log(line); continue; }
      const n = Number(m[2]);
      const span = f.spans.filter(([a, b]) => a <= n && n <= b).pop();
      last = [];
      byFile.get(f.name).push({ where: span ? span[2] : `line ${n}`, msg: m[4], more: last });
    } else if (last && line.trim()) {
      last.push(line.trim());
    }
  }
  // tsc spells out whole object types; keep the messages to a readable length.
  const short = (s) => s.replace(/'([^']{100})[^']{20,}'/g, "'$1…'");
  return new Map(files.map((f) => [f.file, byFile.get(f.name).map(
    (e) => `${e.where}: ${short(e.msg)}${e.more.length ? ' ' + short(e.more.join(' ')) : ''} [${path.join(gen, f.name)}]`)]));
}

// --- promql: promtool parses every expression --------------------------------------------------
function substitute(expr) {
  return expr
    .replace(/\$__rate_interval\b/g, '1m').replace(/\$__range\b/g, '1h').replace(/\$__interval\b/g, '1m')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '.*');
}

function promqlProblems(file, json) {
  const groups = [];
  for (const p of flattenPanels(json.panels)) {
    for (const t of p.targets ?? []) {
      groups.push([`${label(p)} target ${t.refId}`, substitute(String(t.expr ?? ''))]);
    }
  }
  for (const v of (json.templating?.list ?? []).filter((x) => x.type === 'query')) {
    const q = String(typeof v.query === 'string' ? v.query : v.query?.query ?? '');
    const lv = q.match(/^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/);
    groups.push([`variable ${v.name} selector`, substitute(lv ? lv[1] : q)]);
  }
  if (groups.length === 0) return [];
  const dir = path.join(nodeDir, 'gen');
  fs.mkdirSync(dir, { recursive: true });
  const rules = path.join(dir, file.replace(/\.json$/, '.rules.yml'));
  // JSON strings are YAML double-quoted scalars.
  const yaml = ['groups:', ...groups.flatMap(([name, expr], i) => [
    `  - name: ${JSON.stringify(`${i} ${name}`)}`,
    '    rules:',
    '      - record: dashboard_expr',
    `        expr: ${JSON.stringify(expr)}`,
  ])].join('\n') + '\n';
  fs.writeFileSync(rules, yaml);
  try {
    execFileSync('promtool', ['check', 'rules', rules], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return [];
  } catch (e) {
    if (e.code === 'ENOENT') return ['promtool not found: install the prometheus package (contrib/install-deps does)'];
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    const problems = [];
    for (const m of out.matchAll(/group "(\d+) ((?:[^"\\]|\\.)*)", rule \d+, "dashboard_expr": (.*)/g)) {
      problems.push(`${m[2].replace(/\\"/g, '"')}: ${m[3]} (expression as checked: ${groups[Number(m[1])][1]})`);
    }
    return problems.length ? problems : [`promtool check rules ${rules} failed: ${out.trim()}`];
  }
}

// --- main ----------------------------------------------------------------------------------
const known = knownMetrics();
const dashboards = [];
for (const file of fs.readdirSync(dashDir).filter((f) => f.endsWith('.json')).sort()) {
  try {
    dashboards.push({ file, json: JSON.parse(fs.readFileSync(path.join(dashDir, file), 'utf8')) });
    report(`${file}: parses as JSON`, []);
  } catch (e) {
    report(`${file}: parses as JSON`, [String(e.message)]);
  }
}
if (dashboards.length === 0) report('dashboards/*.json: at least one dashboard', ['none found']);

const tscErrors = dashboards.length ? runTsc(dashboards) : new Map();

for (const { file, json } of dashboards) {
  const panels = flattenPanels(json.panels).filter((p) => p.type !== 'row');
  const vars = json.templating?.list ?? [];
  const defined = new Set(vars.map((v) => v.name));

  const unknownType = panels.filter((p) => !PANEL_TYPES[p.type])
    .map((p) => `${label(p)}: panel type ${JSON.stringify(p.type)} has no published options type here (known: ${Object.keys(PANEL_TYPES).join(', ')})`);
  report(`${file}: schema (@grafana/schema Dashboard, panel options, targets)`, [...unknownType, ...(tscErrors.get(file) ?? [])]);

  // metrics
  const unknownMetric = [];
  for (const p of panels) {
    for (const t of p.targets ?? []) {
      for (const n of metricNames(String(t.expr ?? ''))) {
        if (!known.has(n)) unknownMetric.push(`${label(p)} target ${t.refId}: unknown metric ${n} (not in docs/metrics.md)`);
      }
    }
  }
  for (const v of vars.filter((x) => x.type === 'query')) {
    const q = typeof v.query === 'string' ? v.query : String(v.query?.query ?? '');
    // label_values(metric{...}, label): the metric is the first argument only.
    const lv = q.match(/^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/);
    for (const n of metricNames(lv ? lv[1] : q)) {
      if (!known.has(n)) unknownMetric.push(`variable ${v.name}: unknown metric ${n} (not in docs/metrics.md)`);
    }
  }
  report(`${file}: metrics are in docs/metrics.md`, unknownMetric);

  // datasource
  const ds = [];
  const dsVar = vars.find((v) => v.name === 'datasource');
  if (!dsVar || dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') {
    ds.push('no variable "datasource" of type datasource with query "prometheus"');
  }
  for (const p of panels) {
    if (!isDatasourceRef(p.datasource)) ds.push(`${label(p)}: datasource is not {"type":"prometheus","uid":"${DS}"}`);
    if (!(p.targets ?? []).length && p.type !== 'text') ds.push(`${label(p)}: no targets`);
    for (const t of p.targets ?? []) {
      if (!isDatasourceRef(t.datasource)) ds.push(`${label(p)} target ${t.refId}: datasource is not {"type":"prometheus","uid":"${DS}"}`);
    }
  }
  for (const v of vars.filter((x) => x.type === 'query')) {
    if (!isDatasourceRef(v.datasource)) ds.push(`variable ${v.name}: datasource is not {"type":"prometheus","uid":"${DS}"}`);
  }
  report(`${file}: every panel, target and query variable uses \${datasource}`, ds);

  // variables
  const vp = [];
  if (!defined.has('probe')) vp.push('no variable "probe"');
  if (!defined.has('domain') && !defined.has('target')) vp.push('no variable "domain" or "target"');
  for (const v of vars.filter((x) => x.type === 'query')) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (!/^label_values\(\s*[a-z_:][a-z0-9_:]*(\{[^{}]*\})?\s*,\s*[a-z_][a-z0-9_]*\s*\)$/.test(String(q))) {
      vp.push(`variable ${v.name}: query is not label_values(metric{...}, label): ${JSON.stringify(q)}`);
    } else {
      vp.push(...variableProblems(String(q), defined).map((x) => `variable ${v.name}: ${x}`));
    }
    if (v.multi !== true || v.includeAll !== true || v.allValue !== '.*') {
      vp.push(`variable ${v.name}: needs multi: true, includeAll: true, allValue: ".*"`);
    }
  }
  report(`${file}: variables (probe, domain/target; label_values, multi, All = .*)`, vp);

  // expressions
  const ep = [];
  for (const p of panels) {
    const refs = new Set();
    for (const t of p.targets ?? []) {
      if (!t.refId || refs.has(t.refId)) ep.push(`${label(p)}: refId ${JSON.stringify(t.refId)} missing or repeated`);
      refs.add(t.refId);
      const expr = String(t.expr ?? '');
      if (!expr.trim()) ep.push(`${label(p)} target ${t.refId}: empty expression`);
      ep.push(...variableProblems(expr, defined).map((x) => `${label(p)} target ${t.refId}: ${x}`));
      if (!/mailauth_/.test(expr)) ep.push(`${label(p)} target ${t.refId}: reads no mailauth_ metric`);
    }
  }
  report(`${file}: expressions use variables only in label matchers and ranges`, ep);

  report(`${file}: expressions parse as PromQL (promtool, variables substituted)`, promqlProblems(file, json));

  // ids
  const ids = [];
  const seen = new Set();
  for (const p of flattenPanels(json.panels)) {
    if (!Number.isInteger(p.id)) ids.push(`${label(p)}: no integer id`);
    else if (seen.has(p.id)) ids.push(`${label(p)}: id ${p.id} used twice`);
    seen.add(p.id);
  }
  report(`${file}: panel ids set and unique`, ids);

  // uid, schemaVersion
  const up = [];
  if (typeof json.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(json.uid)) up.push(`uid ${JSON.stringify(json.uid)}: not 1-40 characters of [A-Za-z0-9_-]`);
  if (!(json.schemaVersion >= 39)) up.push(`schemaVersion ${json.schemaVersion}: below 39`);
  if (!json.title) up.push('no title');
  report(`${file}: uid, title and schemaVersion`, up);
}

const uids = new Map();
const dup = [];
for (const { file, json } of dashboards) {
  if (uids.has(json.uid)) dup.push(`uid ${json.uid}: ${uids.get(json.uid)} and ${file}`);
  uids.set(json.uid, file);
}
report('dashboards: uids unique across dashboards', dup);

if (failed) console.log(`dashboard checks failed: see FAIL above`);
console.log(`dashboard checks: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
