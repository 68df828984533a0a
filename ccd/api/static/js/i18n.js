// Labels in English and Russian. Elements carry data-i18n="key" (text) or
// data-i18n-placeholder="key"; the chosen language is kept in localStorage.
"use strict";

const I18N = {
  en: {
    title_login: "ccd — sign in", title_agent: "ccd — agent", title_supervisor: "ccd — supervisor",
    login: "Login", password: "Password", sign_in: "Sign in", sign_out: "Sign out",
    wrong_login: "Wrong login or password", too_many: "Too many attempts, try again in {s} s",
    state: "State", in_state: "in state", start_shift: "Start shift", end_shift: "End shift",
    ready: "Ready", pause: "Pause", pause_reason: "Pause reason",
    reason_break: "Break", reason_lunch: "Lunch", reason_training: "Training",
    current_contact: "Current contact", no_contact: "No contact right now",
    campaign: "Campaign", name: "Name", phone: "Phone", attempts: "Attempts",
    talking_for: "Talking for", disposition: "Disposition", note: "Note",
    callback_at: "Call back at", callback_needs_time: "Pick the date and time to call back",
    d_END: "Done", d_CALLBACK: "Call back", d_NO_ANSWER: "No answer", d_BUSY: "Busy",
    d_VOICEMAIL: "Voicemail", d_BAD_NUMBER: "Bad number", d_FAX: "Fax",
    worklist: "Worklist", scheduled: "Scheduled", status: "Status", due: "due",
    dial: "Dial", empty_worklist: "No contacts to work", messages: "Messages",
    message_from: "Message from {who}", ok: "OK", connected: "live", disconnected: "offline",
    s_LOGGED_OUT: "Logged out", s_READY: "Ready", s_RESERVED: "Reserved", s_TALKING: "Talking",
    s_WRAP_UP: "Wrap-up", s_PAUSED: "Paused",
    agents: "Agents", agent: "Agent", live_calls: "Live calls", duration: "Duration",
    queues: "Queues", queue: "Queue", waiting: "Waiting", longest_wait: "Longest wait",
    counters: "Campaigns", dial_level: "Dial level", attempts_today: "Attempts today",
    answers_today: "Answers today", drops_today: "Drops today", abandon_today: "Abandon today",
    abandon_30d: "Abandon 30 days", listen: "Listen", whisper: "Whisper", barge: "Barge",
    stop: "Stop", spy_session: "Listening session", mode: "Mode", calling_you: "calling your phone…",
    send_message: "Send a message", to_agent: "To agent", to_campaign: "To all agents of campaign",
    send: "Send", sent: "Sent", read: "read", lead: "Lead", actions: "Actions", none: "—",
    call: "Call", outbound: "Outbound", inbound: "inbound",
    inbound_from: "Inbound · queue {queue} · dialled {did}",
    recordings: "Recordings", search: "Search", started: "Started", play: "Play",
    download: "Download", agent_id: "Agent id", no_recordings: "No recordings found",
    mailings: "Mailings", mailing: "Mailing", segment: "Segment",
    channel: "Channel", m_planned: "Planned", m_sent: "Sent", m_delivered: "Delivered",
    m_failed: "Failed", m_left_out: "Left out", m_opted_out: "Opted out", m_parts: "SMS parts",
    everyone_else: "everyone else", no_channel: "(left out)",
    title_inbox: "ccd — SMS inbox", inbox: "SMS inbox", wallboard: "Wallboard", code: "Code",
    received: "Received", from_who: "From", text: "Text", assigned_to: "Assigned to",
    message: "Message", take: "Take it", mark_done: "Done", reply: "Reply",
    reply_placeholder: "Reply by SMS", history: "History", no_code: "no code",
    st_open: "open", st_all: "all", st_new: "new", st_assigned: "assigned", st_done: "done",
    st_auto: "answered by a rule", reply_sent: "Reply sent ({n} SMS)",
    reply_failed: "Reply not sent", reply_unknown: "Reply may not have gone out",
    rs_sending: "sending", rs_sent: "sent", rs_delivered: "delivered", rs_failed: "not delivered",
    rs_expired: "expired", rs_unknown: "may not have gone out",
    consent_opt_out: "marketing SMS: opted out", consent_opt_in: "marketing SMS: opted in",
    consent_pending: "marketing SMS: awaiting confirmation",
  },
  ru: {
    title_login: "ccd — вход", title_agent: "ccd — оператор", title_supervisor: "ccd — супервизор",
    login: "Логин", password: "Пароль", sign_in: "Войти", sign_out: "Выйти",
    wrong_login: "Неверный логин или пароль", too_many: "Слишком много попыток, повторите через {s} с",
    state: "Статус", in_state: "в статусе", start_shift: "Начать смену", end_shift: "Закончить смену",
    ready: "Готов", pause: "Пауза", pause_reason: "Причина паузы",
    reason_break: "Перерыв", reason_lunch: "Обед", reason_training: "Обучение",
    current_contact: "Текущий контакт", no_contact: "Сейчас нет контакта",
    campaign: "Кампания", name: "Имя", phone: "Телефон", attempts: "Попытки",
    talking_for: "Разговор", disposition: "Результат звонка", note: "Заметка",
    callback_at: "Перезвонить", callback_needs_time: "Выберите дату и время перезвона",
    d_END: "Завершено", d_CALLBACK: "Перезвонить", d_NO_ANSWER: "Нет ответа", d_BUSY: "Занято",
    d_VOICEMAIL: "Автоответчик", d_BAD_NUMBER: "Неверный номер", d_FAX: "Факс",
    worklist: "Список контактов", scheduled: "Запланирован", status: "Статус", due: "пора",
    dial: "Позвонить", empty_worklist: "Нет контактов для обзвона", messages: "Сообщения",
    message_from: "Сообщение от {who}", ok: "OK", connected: "на связи", disconnected: "нет связи",
    s_LOGGED_OUT: "Не в смене", s_READY: "Готов", s_RESERVED: "Резерв", s_TALKING: "Разговор",
    s_WRAP_UP: "Обработка", s_PAUSED: "Пауза",
    agents: "Операторы", agent: "Оператор", live_calls: "Текущие звонки", duration: "Длительность",
    queues: "Очереди", queue: "Очередь", waiting: "Ожидают", longest_wait: "Дольше всех ждёт",
    counters: "Кампании", dial_level: "Уровень набора", attempts_today: "Попыток сегодня",
    answers_today: "Ответов сегодня", drops_today: "Сбросов сегодня", abandon_today: "Потери сегодня",
    abandon_30d: "Потери за 30 дней", listen: "Слушать", whisper: "Суфлёр", barge: "Вмешаться",
    stop: "Стоп", spy_session: "Прослушивание", mode: "Режим", calling_you: "звоним на ваш телефон…",
    send_message: "Отправить сообщение", to_agent: "Оператору", to_campaign: "Всем операторам кампании",
    send: "Отправить", sent: "Отправлено", read: "прочитано", lead: "Контакт", actions: "Действия", none: "—",
    call: "Звонок", outbound: "Исходящий", inbound: "входящий",
    inbound_from: "Входящий · очередь {queue} · набран {did}",
    recordings: "Записи разговоров", search: "Найти", started: "Начало", play: "Слушать",
    download: "Скачать", agent_id: "Id оператора", no_recordings: "Записей не найдено",
    mailings: "Рассылки", mailing: "Рассылка", segment: "Сегмент",
    channel: "Канал", m_planned: "Запланировано", m_sent: "Отправлено", m_delivered: "Доставлено",
    m_failed: "Ошибки", m_left_out: "Исключены", m_opted_out: "Отписались", m_parts: "SMS-частей",
    everyone_else: "все остальные", no_channel: "(исключены)",
    title_inbox: "ccd — входящие SMS", inbox: "Входящие SMS", wallboard: "Мониторинг", code: "Код",
    received: "Получено", from_who: "От кого", text: "Текст", assigned_to: "Ответственный",
    message: "Сообщение", take: "Взять себе", mark_done: "Готово", reply: "Ответить",
    reply_placeholder: "Ответ по SMS", history: "История", no_code: "без кода",
    st_open: "открытые", st_all: "все", st_new: "новое", st_assigned: "назначено", st_done: "готово",
    st_auto: "отвечено правилом", reply_sent: "Ответ отправлен ({n} SMS)",
    reply_failed: "Ответ не отправлен", reply_unknown: "Ответ мог не уйти",
    rs_sending: "отправляется", rs_sent: "отправлено", rs_delivered: "доставлено",
    rs_failed: "не доставлено", rs_expired: "срок истёк", rs_unknown: "могло не уйти",
    consent_opt_out: "рекламные SMS: отписан", consent_opt_in: "рекламные SMS: согласен",
    consent_pending: "рекламные SMS: ждём подтверждения",
  },
};

let LANG = localStorage.getItem("ccd.lang") || (navigator.language || "en").slice(0, 2);
if (!I18N[LANG]) LANG = "en";

function t(key, vars) {
  let s = (I18N[LANG] && I18N[LANG][key]) || I18N.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", v);
  return s;
}

function applyI18n(root) {
  document.documentElement.lang = LANG;
  for (const el of (root || document).querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of (root || document).querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const b of document.querySelectorAll(".lang button")) b.classList.toggle("on", b.dataset.lang === LANG);
}

function setLang(lang) {
  LANG = lang;
  localStorage.setItem("ccd.lang", lang);
  applyI18n();
  document.dispatchEvent(new Event("langchange"));
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".lang button")) b.addEventListener("click", () => setLang(b.dataset.lang));
  applyI18n();
});
