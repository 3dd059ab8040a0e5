/** Clock: the core's only source of time, in epoch milliseconds. */
export interface Clock {
  now(): number;
}
