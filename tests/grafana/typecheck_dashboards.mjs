// Type-checks Grafana dashboard JSON files against the npm package
// @grafana/schema with `tsc --noEmit --strict` (npm typescript), both pinned in
// package.json / package-lock.json beside this file.
//
//   node typecheck_dashboards.mjs NODE_DIR WORK_DIR DASHBOARD.json...
//   node typecheck_dashboards.mjs --self-test NODE_DIR WORK_DIR DASHBOARD.json
//
// For each dashboard it writes WORK_DIR/<uid>.ts:
//   - the whole dashboard as `const dashboard: Json<Dashboard> = <json>;`
//   - each panel's options (and fieldConfig.defaults.custom) as a constant of
//     that panel plugin's own Options (FieldConfig) type from @grafana/schema.
// Json<T> is T with every string enum replaced by its string values: a JSON
// file can only hold "palette-classic", never FieldColorModeId.PaletteClassic.
// Nothing else is loosened on the dashboard (required fields stay required,
// unknown fields are excess properties). Panel options are checked as deep
// partials, because Grafana fills in the options a panel leaves out.
//
// --self-test proves the check can fail: it writes broken copies of the given
// dashboard (a wrong field type at the top level, in a panel's gridPos, in a
// template variable, in a panel's options, an unknown panel option) and exits
// 0 only if tsc passes on the original and rejects every copy.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const PANEL_TYPES = {
  timeseries: ['TimeSeries', 'timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen', true],
  stat: ['Stat', 'stat/panelcfg/x/StatPanelCfg_types.gen', false],
  bargauge: ['BarGauge', 'bargauge/panelcfg/x/BarGaugePanelCfg_types.gen', false],
  piechart: ['PieChart', 'piechart/panelcfg/x/PieChartPanelCfg_types.gen', true],
  'state-timeline': ['StateTimeline', 'statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen', true],
  heatmap: ['Heatmap', 'heatmap/panelcfg/x/HeatmapPanelCfg_types.gen', true],
  logs: ['Logs', 'logs/panelcfg/x/LogsPanelCfg_types.gen', false],
  table: ['Table', 'table/panelcfg/x/TablePanelCfg_types.gen', true],
};

const PRELUDE = `
// A string enum becomes the union of its values; objects and arrays keep
// their shape (optional stays optional, required stays required).
type Json<T> = T extends string ? \`\${T}\`
  : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;
// As Json<T>, every field optional at every depth.
type JsonPartial<T> = T extends string ? \`\${T}\`
  : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer U> ? Array<JsonPartial<U>>
  : T extends object ? { [K in keyof T]?: JsonPartial<T[K]> }
  : T;
`;

function tsFor(dash) {
  const lines = ["import type { Dashboard } from '@grafana/schema';"];
  const used = new Set();
  const body = [];
  body.push(`export const dashboard: Json<Dashboard> = ${JSON.stringify(dash, null, 2)};`);
  for (const p of dash.panels ?? []) {
    if (typeof p.type !== 'string') continue; // Json<Dashboard> rejects it
    const t = PANEL_TYPES[p.type];
    if (!t) throw new Error(`${dash.uid}: panel ${p.id} has type ${p.type}, unknown to this check (add it to PANEL_TYPES)`);
    const [name, mod, hasFieldConfig] = t;
    if (!used.has(p.type)) {
      used.add(p.type);
      const imports = [`Options as ${name}Options`];
      if (hasFieldConfig) imports.push(`FieldConfig as ${name}FieldConfig`);
      lines.push(`import type { ${imports.join(', ')} } from '@grafana/schema/dist/esm/raw/composable/${mod}';`);
    }
    body.push(`export const panel_${p.id}_options: JsonPartial<${name}Options> = ${JSON.stringify(p.options ?? {}, null, 2)};`);
    const custom = p.fieldConfig?.defaults?.custom;
    if (custom !== undefined) {
      if (!hasFieldConfig) throw new Error(`${dash.uid}: panel ${p.id} (${p.type}) sets fieldConfig.defaults.custom, which that panel type does not have`);
      body.push(`export const panel_${p.id}_custom: JsonPartial<${name}FieldConfig> = ${JSON.stringify(custom, null, 2)};`);
    }
  }
  return lines.join('\n') + '\n' + PRELUDE + '\n' + body.join('\n\n') + '\n';
}

function writeProject(nodeDir, workDir, dashboards) {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  const files = [];
  for (const [name, dash] of dashboards) {
    const f = path.join(workDir, `${name}.ts`);
    fs.writeFileSync(f, tsFor(dash));
    files.push(f);
  }
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      skipLibCheck: true,
      types: [],
      typeRoots: [],
      baseUrl: '.',
      paths: { '@grafana/schema': [path.join(nodeDir, 'node_modules/@grafana/schema')],
               '@grafana/schema/*': [path.join(nodeDir, 'node_modules/@grafana/schema/*')] },
    },
    files: files.map((f) => path.basename(f)),
  };
  fs.writeFileSync(path.join(workDir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  // Module resolution starts from the work folder: give it the packages.
  fs.symlinkSync(path.join(nodeDir, 'node_modules'), path.join(workDir, 'node_modules'), 'dir');
}

// Runs tsc --noEmit --strict on the project; returns [ok, output].
function tsc(nodeDir, workDir) {
  const bin = path.join(nodeDir, 'node_modules/typescript/bin/tsc');
  try {
    const out = execFileSync(process.execPath, [bin, '--noEmit', '--strict', '-p', workDir], { encoding: 'utf8', stdio: 'pipe', cwd: workDir });
    return [true, out];
  } catch (e) {
    return [false, `${e.stdout ?? ''}${e.stderr ?? ''}`];
  }
}

function load(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function check(nodeDir, workDir, files) {
  const dashboards = files.map((f) => {
    const d = load(f);
    return [String(d.uid ?? path.basename(f, '.json')).replace(/[^A-Za-z0-9_-]/g, '_'), d];
  });
  writeProject(nodeDir, workDir, dashboards);
  const [ok, out] = tsc(nodeDir, workDir);
  if (!ok) {
    process.stderr.write(out);
    console.error(`FAIL: tsc --noEmit --strict rejected ${files.length} dashboard(s) (project in ${workDir})`);
    return false;
  }
  console.log(`ok: ${dashboards.map(([n]) => n).join(', ')} type-check against @grafana/schema`);
  return true;
}

function selfTest(nodeDir, workDir, file) {
  const mutants = {
    schemaVersion_string: (d) => { d.schemaVersion = String(d.schemaVersion); },
    gridPos_h_string: (d) => { d.panels[0].gridPos.h = 'tall'; },
    panel_type_number: (d) => { d.panels[0].type = 7; },
    variable_hide_string: (d) => { d.templating.list[0].hide = 'yes'; },
    variable_type_unknown: (d) => { d.templating.list[0].type = 'tenant'; },
    threshold_mode_unknown: (d) => { d.panels[0].fieldConfig.defaults.thresholds.mode = 'relative-ish'; },
    options_reduce_calcs_string: (d) => { d.panels[0].options.reduceOptions.calcs = 'lastNotNull'; },
    options_unknown_field: (d) => { d.panels[0].options.colourMode = 'value'; },
    dashboard_unknown_field: (d) => { d.refreshEvery = '30s'; },
  };
  // One tsc run over the original and every broken copy, each its own file.
  const projects = [['original', load(file)]];
  for (const [name, mutate] of Object.entries(mutants)) {
    const d = load(file);
    mutate(d);
    projects.push([name, d]);
  }
  writeProject(nodeDir, workDir, projects);
  const [, out] = tsc(nodeDir, workDir);
  const errorsOf = (name) => out.split('\n').filter((l) => l.startsWith(`${name}.ts(`) && l.includes('error TS'));
  let ok = true;
  if (errorsOf('original').length) {
    process.stderr.write(out);
    console.error(`FAIL: tsc rejected the original ${file}`);
    ok = false;
  } else {
    console.log(`ok: original ${path.basename(file)} type-checks`);
  }
  for (const name of Object.keys(mutants)) {
    const errs = errorsOf(name);
    if (!errs.length) {
      console.error(`FAIL: ${name}: tsc accepted a broken dashboard`);
      ok = false;
    } else {
      console.log(`ok: ${name} rejected: ${errs[0].replace(/^.*error /, 'error ').slice(0, 160)}`);
    }
  }
  return ok;
}

const args = process.argv.slice(2);
const self = args[0] === '--self-test';
if (self) args.shift();
if (args.length < 3) {
  console.error('usage: node typecheck_dashboards.mjs [--self-test] NODE_DIR WORK_DIR DASHBOARD.json...');
  process.exit(2);
}
const [nodeDir, workDir, ...files] = args;
const ok = self ? selfTest(path.resolve(nodeDir), path.resolve(workDir), files[0]) : check(path.resolve(nodeDir), path.resolve(workDir), files);
process.exit(ok ? 0 : 1);
