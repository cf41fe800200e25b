export type {
  BucketSpan,
  Exemplar,
  Histogram,
  HistogramResetHint,
  Label,
  MetricMetadata,
  MetricType,
  Sample,
  TimeSeries,
  WriteRequest,
} from './model.js';
