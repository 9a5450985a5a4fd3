#!/usr/bin/env bash
# Build the web app's front-end assets into the package (vendor/tidings_assets/web/):
# htmx 2 + its WebSocket extension, Alpine.js (CSP build), and the Tailwind CSS built
# from the templates. The output is committed, so installing tidings needs no Node and
# the box needs no CDN. Run after changing templates or bumping a pin in package.json:
#   bash frontend/build.sh
set -euo pipefail
cd "$(dirname "$0")"
npm ci --silent --no-audit --no-fund >/dev/null
out=../vendor/tidings_assets/web
mkdir -p "$out"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx.min.js"
cp node_modules/htmx-ext-ws/dist/ws.min.js "$out/htmx-ext-ws.min.js"
cp node_modules/@alpinejs/csp/dist/cdn.min.js "$out/alpine-csp.min.js"
node_modules/.bin/tailwindcss -i app.css -o "$out/app.css" --minify 2>/dev/null
cp node_modules/htmx.org/LICENSE "$out/htmx.LICENSE.txt"
cp node_modules/htmx-ext-ws/LICENSE "$out/htmx-ext-ws.LICENSE.txt"
cp node_modules/@alpinejs/csp/../../alpinejs/LICENSE.md "$out/alpine.LICENSE.txt" 2>/dev/null \
  || cp node_modules/@alpinejs/csp/LICENSE.md "$out/alpine.LICENSE.txt" 2>/dev/null || true
cp node_modules/tailwindcss/LICENSE "$out/tailwindcss.LICENSE.txt"
{
  echo "Built by frontend/build.sh from npm packages pinned in frontend/package-lock.json:"
  for pkg in htmx.org htmx-ext-ws @alpinejs/csp tailwindcss; do
    node -e "const p=require('./node_modules/$pkg/package.json');console.log('- '+p.name+' '+p.version+' ('+(p.license||'see its LICENSE')+')')"
  done
} > "$out/VERSIONS.txt"
echo "built: $(cd "$out" && ls | tr '\n' ' ')"
