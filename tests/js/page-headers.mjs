// Runs the script of smf serve's page (index.html) in node with a stub DOM and fetch, and prints, as one JSON line,
// the headers of each request a click makes: first with the token field empty, then holding "abc".
// Usage: node tests/js/page-headers.mjs PATH/index.html
import { readFileSync } from 'node:fs';
const html = readFileSync(process.argv[2], 'utf8');
const script = html.slice(html.indexOf('<script>') + '<script>'.length, html.indexOf('</script>'));
const elements = {};
const element = id => elements[id] ??= new Proxy({ value: '', textContent: '', className: '', innerHTML: '', style: {},
  appendChild() {}, setAttribute() {}, querySelectorAll: () => [], addEventListener() {} }, {
  get: (t, k) => (k in t ? t[k] : () => {}), set: (t, k, v) => { t[k] = v; return true; } });
const requests = [];
globalThis.document = { getElementById: element, createElementNS: () => element('_svg'), createElement: () => element('_el') };
globalThis.setInterval = () => 0;
globalThis.fetch = async (path, init) => {
  requests.push({ path, headers: { ...(init?.headers ?? {}) } });
  return { ok: true, status: 200, json: async () => ({ count: 0, learns: [], forgetting_check: { enabled: false } }) };
};
process.on('unhandledRejection', () => {});
new Function(script)();
await new Promise(r => setTimeout(r, 20));
const out = {};
for (const token of ['', 'abc']) {
  element('token').value = token;
  element('text').value = 'Ada lives in Zorn.';
  element('prompt').value = 'Where does Ada live?';
  requests.length = 0;
  await element('learn').onclick();
  await element('ask').onclick();
  await new Promise(r => setTimeout(r, 20));
  out[token || 'empty'] = requests.filter(r => r.path === '/learn' || r.path === '/ask').map(r => ({ path: r.path, authorization: r.headers['Authorization'] ?? null }));
}
console.log(JSON.stringify(out));
