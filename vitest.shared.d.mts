import type { UserConfig } from 'vitest/config';

export declare function promhaTestDefaults(root: string): UserConfig;
