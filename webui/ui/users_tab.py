"""The Users tab (only with logins on): everyone changes their own password; admins add, remove, disable and enable
accounts, reset passwords, give or take the admin flag and set per-account quotas.

The handlers are thin: `app.users` (webui/security/user_admin.py) checks, writes auth.json and ends the sessions a
change invalidates; refusals come back as `gr.Error` with its message. The admin section is hidden from other
users, and every admin action is checked again on the server.
"""

from __future__ import annotations

import html

import gradio as gr

from webui.app_context import App
from webui.errors import KestrelError
from webui.security.quotas import parse_quota
from webui.security.user_admin import UserAdmin
from webui.ui.callers import require_admin, ui_caller


def users_table(admin: UserAdmin) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(view.name)}</td><td>{'yes' if view.is_admin else ''}</td>"
        f"<td>{'disabled' if view.disabled else 'enabled'}</td>"
        f"<td>{'--gradio-auth' if view.from_flags else 'auth.json'}</td>"
        f"<td>{html.escape(view.quota or '(default)')}</td><td>{view.sessions}</td></tr>"
        for view in admin.views())
    return ('<table id="users_table"><thead><tr><th>User</th><th>Admin</th><th>State</th><th>From</th>'
            f"<th>Quota</th><th>Sessions</th></tr></thead><tbody>{rows}</tbody></table>")


def _service(app: App) -> UserAdmin:
    if app.users is None:
        raise gr.Error("This instance has no accounts to manage.")
    return app.users


def _own_password_section(app: App) -> None:
    with gr.Column(elem_id="users_own", variant="panel"):
        gr.Markdown("### Your password")
        current = gr.Textbox(label="Current password", type="password", elem_id="users_current_password")
        new = gr.Textbox(label="New password (8 characters or more)", type="password", elem_id="users_new_password")
        change = gr.Button("Change my password", elem_id="users_change_password")
        result = gr.Markdown(elem_id="users_own_result")

    def change_password(current_password: str, new_password: str, request: gr.Request) -> str:
        caller = ui_caller(app, request)
        try:
            _service(app).change_own_password(caller.name or "", current_password, new_password)
        except KestrelError as error:
            raise gr.Error(str(error)) from error
        return "Password changed. Every session of yours has ended: [log in again](/login)."

    change.click(change_password, inputs=[current, new], outputs=[result])


def _admin_section(app: App) -> tuple[gr.Column, gr.HTML]:
    with gr.Column(visible=False, elem_id="users_admin", variant="panel") as section:
        gr.Markdown("### Accounts")
        table = gr.HTML(elem_id="users_table_html")
        with gr.Row():
            name = gr.Textbox(label="User name", elem_id="users_name")
            password = gr.Textbox(label="Password (new or reset)", type="password", elem_id="users_password")
            quota = gr.Textbox(label="Quota", placeholder="steps=30,pixels=262144,batch=4,jobs_per_hour=20",
                               elem_id="users_quota")
            admin_flag = gr.Checkbox(label="Admin", elem_id="users_admin_flag")
        with gr.Row():
            buttons = {label: gr.Button(label, elem_id=f"users_{label.lower().replace(' ', '_')}", size="sm")
                       for label in ("Add", "Reset password", "Set admin flag", "Set quota", "Disable", "Enable",
                                     "Remove")}
        status = gr.Markdown(elem_id="users_status")

    actions = {
        "Add": lambda users, n, p, q, a: users.add(n, p, a, parse_quota(q, "quota")),
        "Reset password": lambda users, n, p, q, a: users.reset_password(n, p),
        "Set admin flag": lambda users, n, p, q, a: users.update(n, is_admin=a),
        "Set quota": lambda users, n, p, q, a: users.update(n, quota=parse_quota(q, "quota")),
        "Disable": lambda users, n, p, q, a: users.update(n, disabled=True),
        "Enable": lambda users, n, p, q, a: users.update(n, disabled=False),
        "Remove": lambda users, n, p, q, a: users.remove(n),
    }

    def handler(label: str):
        def act(user_name: str, secret: str, quota_text: str, is_admin: bool, request: gr.Request):
            require_admin(app, request, "Managing users")
            users = _service(app)
            try:
                actions[label](users, user_name.strip(), secret, quota_text, is_admin)
            except (KestrelError, ValueError) as error:
                raise gr.Error(str(error)) from error
            return users_table(users), f"{label}: {user_name.strip()} — done.", ""
        return act

    for label, button in buttons.items():
        button.click(handler(label), inputs=[name, password, quota, admin_flag], outputs=[table, status, password])
    return section, table


def build_users_tab(app: App, tab: gr.Tab) -> None:
    _own_password_section(app)
    section, table = _admin_section(app)

    def on_open(request: gr.Request):
        caller = ui_caller(app, request)
        if not caller.is_admin:
            return gr.update(visible=False), ""
        return gr.update(visible=True), users_table(_service(app))

    tab.select(on_open, outputs=[section, table], show_progress="hidden")
