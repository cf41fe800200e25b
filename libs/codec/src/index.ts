export type {
  BucketSpan,
  Exemplar,
  Histogram,
  HistogramResetHint,
  Label,
  LabelMatcher,
  MetricMetadata,
  MetricType,
  Sample,
  TimeSeries,
  WriteRequest,
} from './model.js';
