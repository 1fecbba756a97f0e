// image methods (declared with their adapter; see ../method.ts).
import type { MethodDefinition } from '../method.ts';

export const IMAGE_METHODS: readonly MethodDefinition[] = [];
