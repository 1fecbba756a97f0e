export { FuelError, type FuelErrorCode } from './fuel-error.ts';
export { type FuelModule, FuelModules, type FuelModulesOptions } from './fuel-modules.ts';
export { FuelThread, type FuelThreadOptions } from './fuel-thread-client.ts';
export { type FuelOptions, type FuelScheme, instrumentFuel } from './instrument.ts';
