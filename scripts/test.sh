#!/usr/bin/env bash
# `npm test`: install what is missing, then typecheck, lint, unit/integration tests, e2e.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== build (generated code check, WASM fixtures, pages)"
npm run build
echo "== typecheck"
npm run typecheck
echo "== lint"
npx biome ci .
echo "== unit and integration tests"
npx vitest run
if [ -f e2e/playwright.config.ts ]; then
  echo "== e2e (Playwright, system Chromium)"
  npm run test --workspace e2e
fi
