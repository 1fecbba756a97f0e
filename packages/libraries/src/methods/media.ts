// media methods (declared with their adapter; see ../method.ts).
import type { MethodDefinition } from '../method.ts';

export const MEDIA_METHODS: readonly MethodDefinition[] = [];
