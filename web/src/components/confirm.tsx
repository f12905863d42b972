// Confirmation for destructive actions: a modal <dialog> (focus moves into it, on Cancel first; Escape cancels;
// focus goes back to the button that opened it), with the action named on its confirm button.
import type { JSX } from "preact";
import { useId, useRef, useState } from "preact/hooks";

interface Question {
  title: string;
  body: string;
  confirm: string;
  resolve: (yes: boolean) => void;
}

export function useConfirm(): [dialog: JSX.Element, ask: (title: string, body: string, confirm: string) => Promise<boolean>] {
  const ref = useRef<HTMLDialogElement>(null);
  const [question, setQuestion] = useState<Question | null>(null);
  const titleId = useId();

  const ask = (title: string, body: string, confirm: string) =>
    new Promise<boolean>((resolve) => {
      setQuestion({ title, body, confirm, resolve });
      // Opened once rendered with the question.
      requestAnimationFrame(() => ref.current?.showModal());
    });

  const answer = (yes: boolean) => {
    ref.current?.close();
    question?.resolve(yes);
    setQuestion(null);
  };

  const dialog = (
    <dialog ref={ref} class="confirm" aria-labelledby={titleId} onCancel={() => answer(false)}>
      {question ? (
        <form onSubmit={(e) => (e.preventDefault(), answer(true))}>
          <h2 id={titleId}>{question.title}</h2>
          <p>{question.body}</p>
          <div class="actions">
            <button type="button" onClick={() => answer(false)} autoFocus>
              Cancel
            </button>
            <button type="submit" class="danger">
              {question.confirm}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
  return [dialog, ask];
}
