// Exports one of each signal with the OpenTelemetry JS SDK's OTLP/HTTP (JSON) exporters,
// configured by OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS only.
const { metrics, trace, context, ROOT_CONTEXT, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');

const resource = resourceFromAttributes({ 'service.name': 'web-shop' });

async function main() {
  const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: 3600000 });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const meter = meterProvider.getMeter('web-shop');
  const orders = meter.createCounter('shop.orders', { unit: '{order}' });
  const duration = meter.createHistogram('http.client.request.duration', { unit: 'ms' });
  const inflight = meter.createUpDownCounter('http.client.active_requests');
  orders.add(4, { region: 'eu' });
  for (const v of [12, 40, 95.5, 300]) duration.record(v, { 'http.route': '/cart' });
  inflight.add(3);
  inflight.add(-1);
  await meterProvider.forceFlush();

  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  const tracer = tracerProvider.getTracer('web-shop');
  const chat = tracer.startSpan('chat gpt-4o-mini', {
    kind: SpanKind.CLIENT,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 321,
      'gen_ai.usage.output_tokens': 54,
      'user.id': 'js-user',
    },
  });
  const tool = tracer.startSpan('execute_tool search', {}, trace.setSpan(ROOT_CONTEXT, chat));
  tool.end();
  chat.end();
  const server = tracer.startSpan('POST /checkout', {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'POST', 'http.route': '/checkout', 'url.path': '/checkout', 'http.response.status_code': 502 },
  });
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failed' });
  server.end();
  await tracerProvider.forceFlush();

  const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter() })] });
  const logger = loggerProvider.getLogger('web-shop.checkout');
  logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'cart opened' });
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'checkout failed',
    attributes: { 'exception.type': 'TypeError', 'exception.message': "Cannot read properties of undefined (reading 'id')", 'exception.stacktrace': 'TypeError: Cannot read properties of undefined\n    at checkout (shop.js:10:5)' },
    context: trace.setSpan(ROOT_CONTEXT, server),
  });
  await loggerProvider.forceFlush();
  await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown(), loggerProvider.shutdown()]);
}
main().then(() => console.log('done'), (e) => { console.error(e); process.exit(1); });
