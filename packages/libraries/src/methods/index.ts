// Every library method, one declaration each (see ../method.ts).
import type { MethodDefinition } from '../method.ts';
import { CRYPTO_METHODS } from './crypto.ts';
import { DATA_METHODS } from './data.ts';
import { IMAGE_METHODS } from './image.ts';
import { MEDIA_METHODS } from './media.ts';
import { ML_METHODS } from './ml.ts';

export const ALL_METHODS: readonly MethodDefinition[] = [
  ...IMAGE_METHODS,
  ...DATA_METHODS,
  ...CRYPTO_METHODS,
  ...MEDIA_METHODS,
  ...ML_METHODS,
];
