// After `vite build`: Swagger UI for /api-docs, .br/.gz copies of every text
// file (haoka-server serves them as they are), and the size of what the
// first page load needs, gzipped.
import { readFileSync, writeFileSync, readdirSync, statSync, mkdirSync, copyFileSync } from 'node:fs'
import { join, dirname, extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync, brotliCompressSync, constants } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')

// --- Swagger UI at /api-docs/ (no inline script: the initializer is a file) ---
const swagger = join(root, 'node_modules', 'swagger-ui-dist')
const docs = join(dist, 'api-docs')
mkdirSync(docs, { recursive: true })
for (const f of ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']) copyFileSync(join(swagger, f), join(docs, f))
writeFileSync(
  join(docs, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
  <meta charset="UTF-8" />
  <title>haoka-server API</title>
  <link rel="stylesheet" href="./swagger-ui.css" />
  <link rel="icon" type="image/png" href="./favicon-32x32.png" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./swagger-ui-bundle.js"></script>
  <script src="./init.js"></script>
</body>
</html>
`,
)
writeFileSync(
  join(docs, 'init.js'),
  `window.ui = SwaggerUIBundle({ url: '/api-docs/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`,
)

// --- precompressed copies ---
const TEXT = new Set(['.js', '.css', '.html', '.svg', '.json', '.txt', '.map'])
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}
let files = 0
for (const file of walk(dist)) {
  if (!TEXT.has(extname(file))) continue
  const body = readFileSync(file)
  if (body.length < 256) continue
  writeFileSync(`${file}.gz`, gzipSync(body, { level: 9 }))
  writeFileSync(
    `${file}.br`,
    brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }),
  )
  files++
}

// --- what index.html makes the browser load first ---
const html = readFileSync(join(dist, 'index.html'), 'utf8')
const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1])
let gz = 0
for (const r of refs) gz += gzipSync(readFileSync(join(dist, r)), { level: 9 }).length
const report = { initial_files: refs, initial_gzip_bytes: gz }
writeFileSync(join(dist, 'bundle-size.json'), JSON.stringify(report, null, 2))
console.log(`postbuild: Swagger UI in dist/api-docs, ${files} files precompressed (.br, .gz)`)
console.log(`postbuild: initial JS+CSS (index.html) ${(gz / 1024).toFixed(1)} KiB gzipped in ${refs.length} files`)
