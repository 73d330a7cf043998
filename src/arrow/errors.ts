/**
 * Error types of the Arrow IPC module.
 *
 * Every problem found in untrusted IPC bytes is reported as an {@link IpcError}; its message is a plain
 * sentence that is safe to return to a client (it never contains the input bytes themselves).
 *
 * @module
 */

/** Invalid, unsupported or inconsistent Arrow IPC data. The message is safe to send to a client. */
export class IpcError extends Error {
  /** Creates an error with a human-readable, client-safe message. */
  constructor(message: string) {
    super(message);
    this.name = "IpcError";
  }
}

/**
 * {@link readFooter} was given fewer tail bytes than the footer needs. `required` is the number of bytes
 * from the end of the file that must be passed to succeed.
 */
export class TailTooShort extends IpcError {
  /** Number of bytes from the end of the file needed to read the footer. */
  readonly required: number;
  /** Creates the error for a tail that must be at least `required` bytes long. */
  constructor(required: number) {
    super(`The file footer needs the last ${required} bytes of the file.`);
    this.name = "TailTooShort";
    this.required = required;
  }
}
