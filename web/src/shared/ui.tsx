import { useEffect, useId, useRef, useState, type ButtonHTMLAttributes, type ReactNode } from 'react';
import { AlertIcon, CheckIcon, CopyIcon, EyeIcon, EyeOffIcon, InfoIcon, SearchIcon } from './icons';

type Variant = 'primary' | 'secondary' | 'danger' | 'danger-outline' | 'ghost' | 'link';

export function Button({
  variant = 'secondary',
  size,
  busy = false,
  block = false,
  className = '',
  children,
  disabled,
  type = 'button',
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; size?: 'sm'; busy?: boolean; block?: boolean }) {
  const classes = ['btn', variant !== 'secondary' ? `btn-${variant}` : '', size ? `btn-${size}` : '', block ? 'btn-block' : '', className].filter(Boolean).join(' ');
  return (
    <button type={type} className={classes} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {busy ? <span className="spinner" aria-hidden="true" /> : null}
      {children}
    </button>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <span role="status" className="row muted">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </span>
  );
}

async function writeClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission, insecure context): fall back to a hidden text area.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done;
  }
}

/** Copies a value (or what `load` returns); says "Copied" for two seconds, announced to screen readers. */
export function CopyButton({ value, load, label = 'Copy', size = 'sm' }: { value?: string; load?: () => Promise<string>; label?: string; size?: 'sm' }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const copy = async () => {
    const text = value ?? (load ? await load().catch(() => undefined) : undefined);
    const ok = text !== undefined && (await writeClipboard(text));
    setState(ok ? 'copied' : 'failed');
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setState('idle'), 2000);
  };
  return (
    <Button size={size} onClick={() => void copy()} aria-label={state === 'idle' ? label : undefined}>
      {state === 'copied' ? <CheckIcon size={15} /> : <CopyIcon size={15} />}
      <span aria-live="polite" style={{ minWidth: '3.6rem', textAlign: 'left' }}>
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Failed' : 'Copy'}
      </span>
    </Button>
  );
}

export function CopyBox({ value, label }: { value: string; label: string }) {
  return (
    <div className="copy-box">
      <code aria-label={label}>{value}</code>
      <CopyButton value={value} label={`Copy ${label}`} />
    </div>
  );
}

/**
 * A secret shown as dots until revealed. `load` fetches it on first reveal or copy, so the value is not in
 * the page until someone asks for it.
 */
export function SecretValue({ value, load, label }: { value?: string | null; load?: () => Promise<string | null>; label: string }) {
  const [revealed, setRevealed] = useState(false);
  const [loaded, setLoaded] = useState<string | null | undefined>(value);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const get = async (): Promise<string | null> => {
    if (loaded !== undefined) return loaded;
    if (!load) return null;
    setBusy(true);
    try {
      const text = await load();
      setLoaded(text);
      setError(null);
      return text;
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      throw caught;
    } finally {
      setBusy(false);
    }
  };
  const toggle = async () => {
    if (revealed) return setRevealed(false);
    await get().catch(() => undefined);
    setRevealed(true);
  };
  const shown = revealed && loaded !== undefined;
  return (
    <div className="stack" style={{ gap: '0.35rem' }}>
      <div className="copy-box">
        <code aria-label={label} className={shown ? '' : 'muted'}>
          {shown ? (loaded ?? '(empty)') : '••••••••••••••••••••'}
        </code>
        <Button size="sm" onClick={() => void toggle()} busy={busy} aria-pressed={revealed} aria-label={revealed ? `Hide ${label}` : `Reveal ${label}`}>
          {revealed ? <EyeOffIcon size={15} /> : <EyeIcon size={15} />}
          <span style={{ minWidth: '2.6rem', textAlign: 'left' }}>{revealed ? 'Hide' : 'Reveal'}</span>
        </Button>
        <CopyButton load={async () => (await get()) ?? ''} label={`Copy ${label}`} />
      </div>
      {error ? <p className="field-error">{error}</p> : null}
    </div>
  );
}

export function Banner({ tone, title, children, role }: { tone: 'warning' | 'error' | 'success' | 'info'; title?: ReactNode; children?: ReactNode; role?: 'alert' | 'status' }) {
  return (
    <div className={`banner banner-${tone}`} role={role}>
      <span className="banner-icon">{tone === 'error' || tone === 'warning' ? <AlertIcon size={18} /> : tone === 'success' ? <CheckIcon size={18} /> : <InfoIcon size={18} />}</span>
      <div>
        {title ? <strong>{title} </strong> : null}
        {children}
      </div>
    </div>
  );
}

export function EmptyState({ icon, title, children, action }: { icon: ReactNode; title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <span className="empty-icon">{icon}</span>
      <h2>{title}</h2>
      {children ? <p>{children}</p> : null}
      {action ? <div className="actions">{action}</div> : null}
    </div>
  );
}

/** `action` replaces "Try again" where retrying cannot help (a request the server refused as malformed). */
export function ErrorState({ error, retry, title = 'This could not be loaded', action }: { error: unknown; retry?: () => void; title?: string; action?: ReactNode }) {
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="empty" role="alert">
      <span className="empty-icon" style={{ background: 'var(--danger-soft)', color: 'var(--danger)' }}>
        <AlertIcon />
      </span>
      <h2>{title}</h2>
      <p>{message}</p>
      {action || retry ? <div className="actions">{action ?? <Button onClick={retry}>Try again</Button>}</div> : null}
    </div>
  );
}

export function Logo({ src, size = 'md', alt = '' }: { src: string | null | undefined; size?: 'md' | 'lg'; alt?: string }) {
  // Fixed width and height: no layout shift while the image loads.
  const px = size === 'lg' ? 44 : 32;
  return src ? <img className={`logo${size === 'lg' ? ' logo-lg' : ''}`} src={src} width={px} height={px} alt={alt} /> : <span className={`logo${size === 'lg' ? ' logo-lg' : ''}`} style={{ background: 'var(--surface-2)' }} />;
}

const TABBABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

/**
 * Keeps Tab and Shift+Tab inside `container` (a modal): past the last control focus wraps to the first, and back.
 * A modal <dialog> alone lets focus leave for the browser's own controls, and an iframe lets it reach the page behind.
 */
export function keepTabInside(event: KeyboardEvent, container: HTMLElement): void {
  if (event.key !== 'Tab' || event.altKey || event.ctrlKey || event.metaKey) return;
  const items = [...container.querySelectorAll<HTMLElement>(TABBABLE)].filter((item) => item.getClientRects().length > 0);
  const first = items[0];
  const last = items.at(-1);
  if (!first || !last) {
    event.preventDefault();
    return;
  }
  const active = document.activeElement;
  const inside = active !== null && container.contains(active);
  const direction = event.shiftKey ? Node.DOCUMENT_POSITION_PRECEDING : Node.DOCUMENT_POSITION_FOLLOWING;
  const hasNeighbour = inside && items.some((item) => item !== active && (active.compareDocumentPosition(item) & direction) !== 0);
  if (hasNeighbour) return;
  event.preventDefault();
  (event.shiftKey ? last : first).focus();
}

/** A modal built on <dialog>: focus moves in and is trapped, Escape closes it, focus returns to the opener. */
export function Dialog({ open, onClose, title, children, footer, labelledBy }: { open: boolean; onClose: () => void; title: ReactNode; children: ReactNode; footer?: ReactNode; labelledBy?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  const generated = useId();
  const titleId = labelledBy ?? `${generated}-title`;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onKeyDown={(event) => keepTabInside(event.nativeEvent, event.currentTarget)}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      {open ? (
        <>
          <div className="dialog-header">
            <h2 id={titleId} style={{ flex: 1 }}>
              {title}
            </h2>
          </div>
          <div className="dialog-body">{children}</div>
          {footer ? <div className="dialog-footer">{footer}</div> : null}
        </>
      ) : null}
    </dialog>
  );
}

export function StatusBadge({ status }: { status: 'healthy' | 'expiring' | 'refresh_failed' }) {
  const text = status === 'healthy' ? 'Healthy' : status === 'expiring' ? 'Expiring' : 'Refresh failed';
  return <span className={`badge badge-${status}`}>{text}</span>;
}

/** The token keeper's word on a connection that needs attention; nothing for a healthy one. */
export function HealthBadge({ health }: { health: 'healthy' | 'refresh_failed' | 'given_up' | 'expired' }) {
  if (health === 'healthy') return null;
  const text = health === 'refresh_failed' ? 'Refreshes failing' : health === 'given_up' ? 'Refreshes stopped' : 'Expired';
  return <span className="badge badge-refresh_failed">{text}</span>;
}

export function OnOff({ on, onText = 'On', offText = 'Off' }: { on: boolean; onText?: string; offText?: string }) {
  return <span className={`badge ${on ? 'badge-on' : 'badge-off'}`}>{on ? onText : offText}</span>;
}

/** A toolbar's search box: a label for screen readers, the magnifier, and an optional hint read with the field. */
export function SearchField({ id, label, placeholder, value, onChange, hint }: { id: string; label: string; placeholder: string; value: string; onChange: (value: string) => void; hint?: string }) {
  return (
    <div className="search">
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <div className="input-affix">
        <span className="affix">
          <SearchIcon size={16} />
        </span>
        <input
          id={id}
          className="input"
          type="search"
          placeholder={placeholder}
          {...(hint ? { 'aria-describedby': `${id}-hint` } : {})}
          value={value}
          onChange={(event) => onChange(event.target.value)}
        />
      </div>
      {hint && (
        <span id={`${id}-hint`} className="sr-only">
          {hint}
        </span>
      )}
    </div>
  );
}
