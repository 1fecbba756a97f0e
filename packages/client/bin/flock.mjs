#!/usr/bin/env node
// `npx flock ...`: runs the TypeScript CLI through tsx (workspace packages export TS source).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
