// Schema check of the rendered deploy/kubernetes manifests with the npm package
// kubernetes-models (pinned in package.json / package-lock.json): every object must
// validate against its Kubernetes schema; then what the deployment relies on: every
// workload probes /healthz or its server, runs as non-root with a read-only root file
// system, and every Deployment/StatefulSet has a PodDisruptionBudget and a Service.
// Usage: node k8s_validate.mjs RENDERED.yaml   (DSMIL_K8S_MODELS_DIR: where npm ci put node_modules)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.DSMIL_K8S_MODELS_DIR;
const req = createRequire(path.join(dir, "package.json"));
const yaml = req("js-yaml");
const docs = yaml.loadAll(readFileSync(process.argv[2], "utf8")).filter(Boolean);
let failures = 0;
const fail = (msg) => { console.log("FAIL " + msg); failures++; };
const kinds = {};
for (const obj of docs) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const sub = group ? `${group}/${version}/${obj.kind}` : `${version}/${obj.kind}`;
  const where = `${obj.kind}/${obj.metadata?.name}`;
  let Model;
  try {
    const file = path.join(dir, "node_modules", "kubernetes-models", `${sub}.js`);
    Model = (await import(pathToFileURL(file).href))[obj.kind];
  } catch (e) {
    fail(`${where}: no schema for ${obj.apiVersion} ${obj.kind}: ${e.message}`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(`${where}: ${e.message}`);
    continue;
  }
  (kinds[obj.kind] ??= []).push(obj);
}
const need = ["Namespace", "Deployment", "StatefulSet", "Service", "NetworkPolicy", "PodDisruptionBudget", "Secret", "ConfigMap"];
for (const k of need) if (!kinds[k]) fail(`no ${k} rendered`);
const selects = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => labels[k] === v);
for (const w of [...(kinds.Deployment || []), ...(kinds.StatefulSet || [])]) {
  const where = `${w.kind}/${w.metadata.name}`;
  const pod = w.spec.template.spec;
  const labels = w.spec.template.metadata.labels;
  if (!pod.securityContext?.runAsNonRoot) fail(`${where}: not runAsNonRoot`);
  for (const c of pod.containers) {
    if (!c.readinessProbe || !c.livenessProbe) fail(`${where}/${c.name}: no readiness or liveness probe`);
    if (!c.securityContext?.readOnlyRootFilesystem) fail(`${where}/${c.name}: root file system writable`);
    if (c.securityContext?.allowPrivilegeEscalation !== false) fail(`${where}/${c.name}: privilege escalation allowed`);
    if (c.image.startsWith("dsmil") === false && !c.image.includes("/dsmil")) fail(`${where}/${c.name}: image ${c.image}`);
    if (labels["app.kubernetes.io/name"] === "dsmil" && c.readinessProbe?.httpGet?.path !== "/healthz") {
      fail(`${where}/${c.name}: readiness probe is not /healthz`);
    }
  }
  if (!(kinds.PodDisruptionBudget || []).some((p) => selects(p.spec.selector.matchLabels, labels))) fail(`${where}: no PodDisruptionBudget`);
  if (!(kinds.Service || []).some((s) => selects(s.spec.selector, labels))) fail(`${where}: no Service`);
}
if (!(kinds.NetworkPolicy || []).some((p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.length === 2)) {
  fail("no default-deny NetworkPolicy");
}
const ai = (kinds.Deployment || []).find((d) => d.spec.template.metadata.labels["dsmil.io/role"] === "ai");
if (!ai || ai.spec.replicas < 2) fail("the AI role (L7 router) is not replicated");
console.log(`${docs.length} objects rendered: ${Object.entries(kinds).map(([k, v]) => `${v.length} ${k}`).join(", ")}`);
if (failures) { console.log(`${failures} failures`); process.exit(1); }
console.log("every object validates against kubernetes-models");
