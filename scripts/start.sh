#!/usr/bin/env bash
# `npm start`: install what is missing, build the pages when their sources exist (the coordinator
# serves placeholders otherwise), then run the coordinator with embedded SQLite in $FLOCK_DATA.
# Configuration: the FLOCK_* environment variables in apps/coordinator/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f apps/worker-web/index.html ] || [ -f apps/dashboard/index.html ]; then
  echo "flock: building the pages (vite)"
  # The volunteer page embeds the built-in ops' WASM kernels, generated into shaders/build/.
  if ! npm run build --silent --workspace @flock/shaders || ! npx vite build --logLevel warn; then
    echo "flock: the page build failed; serving placeholder pages" >&2
  fi
else
  echo "flock: no page sources yet; serving placeholder pages"
fi
export FLOCK_DATA="${FLOCK_DATA:-./.flock-data}"
exec node --import tsx apps/coordinator/src/main.ts
