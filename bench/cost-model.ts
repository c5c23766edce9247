/**
 * Monthly cost of one device, projected from request and byte rates
 * measured in a benchmark.
 *
 * @module
 */

/**
 * AWS S3 us-east-1 list prices (Standard storage class), in USD. Source:
 * ../shared/guide/fleet-reference.md §5.1 (shared/guide/fleet-reference.md
 * beside this repository), which quotes AWS's S3 pricing page; re-verify
 * before publishing numbers.
 */
export const S3_PRICES = {
  /** PUT, COPY, POST and LIST requests, per 1,000. */
  putListPer1000: 0.005,
  /** GET and HEAD (and all other) requests, per 1,000. */
  getHeadPer1000: 0.0004,
  /** Data transfer IN to S3 is free; the device's cellular plan pays for the bytes instead. */
  dataInPerGiB: 0,
  /** DELETE requests are free. */
  deletePer1000: 0,
} as const;

/** A month as the cost model counts it: 30 days (fleet-reference.md §5.2: 1 PUT/s = 2,592,000 PUTs/month). */
export const SECONDS_PER_MONTH = 30 * 24 * 60 * 60;

/** Request counts and bytes over a measured window. */
export interface MeasuredRates {
  readonly puts: number;
  readonly lists: number;
  readonly getHeads: number;
  readonly bytesUploaded: number;
  /** Length of the window the counts were taken over, in seconds (> 0). */
  readonly seconds: number;
}

/** The measured rates scaled to one month of one device. */
export interface MonthlyProjection {
  readonly putsPerMonth: number;
  readonly listsPerMonth: number;
  readonly getHeadsPerMonth: number;
  /** S3 request cost: PUT + LIST + GET/HEAD, USD per device per month. */
  readonly s3RequestUsd: number;
  /** Request bodies uploaded per month, MiB (what the device's data plan carries, before HTTP/TLS overhead). */
  readonly uploadMiB: number;
}

/**
 * Projects `rates` to a month.
 *
 * @throws {RangeError} when `rates.seconds` is not positive
 */
export function projectMonthly(rates: MeasuredRates): MonthlyProjection {
  if (!(rates.seconds > 0)) {
    throw new RangeError(`Cannot project costs: the measured window must be positive, got ${rates.seconds} s`);
  }
  const scale = SECONDS_PER_MONTH / rates.seconds;
  const putsPerMonth = rates.puts * scale;
  const listsPerMonth = rates.lists * scale;
  const getHeadsPerMonth = rates.getHeads * scale;
  return {
    putsPerMonth,
    listsPerMonth,
    getHeadsPerMonth,
    s3RequestUsd:
      ((putsPerMonth + listsPerMonth) / 1000) * S3_PRICES.putListPer1000 +
      (getHeadsPerMonth / 1000) * S3_PRICES.getHeadPer1000,
    uploadMiB: (rates.bytesUploaded * scale) / (1024 * 1024),
  };
}
