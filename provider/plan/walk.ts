/**
 * What became of a plan's steps as a run walked it, for both resources: each step the run reached, as it decided it
 * there, marked done or failed, and the steps after a failure marked not reached. Pure bookkeeping: no effects.
 */

/** What became of one step: carried out, the step the run stopped at, or never reached because it stopped earlier. */
export type StepOutcome = "done" | "failed" | "not reached";

/** One step of a walked plan. */
export interface WalkedStep<Step> {
  readonly step: Step;
  readonly outcome: StepOutcome;
}

/** The record a run keeps while it walks its plan, stage by stage. */
export class Walk<Step> {
  private readonly walked: WalkedStep<Step>[] = [];
  private ahead: Step[] = [];

  /** The run reached a stage: these are its steps, as decided now, none carried out yet. */
  reach(steps: readonly Step[]): void {
    this.ahead = [...steps];
  }

  /** The stage's next step was carried out, as `step` (its plan's step, or what the run found it to be). */
  done(step: Step): void {
    this.ahead.shift();
    this.walked.push({ step, outcome: "done" });
  }

  /** The steps carried out so far, in order. */
  get carriedOut(): Step[] {
    return this.walked.map((w) => w.step);
  }

  /** The walk of a run that stopped: the stage's next step failed; it and `later` (the stages after) were not reached. */
  stopped(later: readonly Step[]): WalkedStep<Step>[] {
    const [failed, ...rest] = this.ahead;
    return [
      ...this.walked,
      ...(failed === undefined ? [] : [{ step: failed, outcome: "failed" as const }]),
      ...[...rest, ...later].map((step) => ({ step, outcome: "not reached" as const })),
    ];
  }

  /** The walk of a run that finished: every step done. */
  finished(): WalkedStep<Step>[] {
    return [...this.walked];
  }
}
