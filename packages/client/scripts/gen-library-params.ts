// Writes src/generated/library-params.ts (the SDK's param types of every library op) from the method
// schemas. Run after changing a method's params: `npx tsx packages/client/scripts/gen-library-params.ts`.
import { writeFileSync } from 'node:fs';
import { METHODS } from '@flock/libraries';
import { paramsTypesSource } from '@flock/libraries/node';

const target = new URL('../src/generated/library-params.ts', import.meta.url);
writeFileSync(target, paramsTypesSource(METHODS.values()));
console.log(`wrote ${target.pathname} (${METHODS.size} ops)`);
