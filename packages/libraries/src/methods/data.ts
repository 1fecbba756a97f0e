// data methods (declared with their adapter; see ../method.ts).
import type { MethodDefinition } from '../method.ts';

export const DATA_METHODS: readonly MethodDefinition[] = [];
