import { defineProject } from 'vitest/config';
import { promhaTestDefaults } from '../../vitest.shared.mjs';

export default defineProject(promhaTestDefaults(import.meta.dirname));
