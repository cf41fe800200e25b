import baseConfig, { productionCode } from '../../eslint.config.mjs';

export default [...baseConfig, ...productionCode];
