// Types of the vendored qrcode-generator (qrcode.mjs), only for what Alcove
// calls, so that the type check reads these rather than the vendored code.
export interface QRCode {
  addData(data: string, mode?: string): void;
  make(): void;
  getModuleCount(): number;
  isDark(row: number, col: number): boolean;
}
declare function qrcode(typeNumber: number, errorCorrectionLevel: "L" | "M" | "Q" | "H"): QRCode;
export default qrcode;
