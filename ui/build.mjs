// Builds the UI into dist/: bundles src/main.js (with bpmn-js, Chart.js and
// the CSS they need) into content-hashed files under dist/assets/ and writes
// dist/index.html naming them. Run with `npm run build`.
import * as esbuild from 'esbuild';
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';

const out = 'dist';
await rm(path.join(out, 'assets'), { recursive: true, force: true });
await mkdir(path.join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2020'],
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  publicPath: '/ui/assets',
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' },
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

let js = '', css = '';
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint !== 'src/main.js' && !meta.cssBundle && !file.endsWith('.css')) continue;
  const url = '/ui/assets/' + path.basename(file);
  if (file.endsWith('.js')) js = url;
  if (file.endsWith('.css')) css = url;
}
if (!js || !css) throw new Error(`build produced no app bundle (js=${js} css=${css})`);

const html = (await readFile('src/index.html', 'utf8')).replace('%CSS%', css).replace('%JS%', js);
await writeFile(path.join(out, 'index.html'), html);
await copyFile('src/favicon.svg', path.join(out, 'favicon.svg'));
console.log(`ui: built ${js} ${css}`);
