import baseConfig, { libraryCode } from '../../eslint.config.mjs';

export default [...baseConfig, ...libraryCode];
