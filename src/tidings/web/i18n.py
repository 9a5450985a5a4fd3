"""The web app's words in French and English: the browser's language unless the person
picked one (kept in their session)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANGUAGES = ("en", "fr")

_WORDS: dict[str, dict[str, str]] = {
    "app": {"en": "tidings", "fr": "tidings"},
    "sign_in": {"en": "Sign in", "fr": "Se connecter"},
    "sign_out": {"en": "Sign out", "fr": "Se déconnecter"},
    "address": {"en": "E-mail address", "fr": "Adresse e-mail"},
    "password": {"en": "Password", "fr": "Mot de passe"},
    "bad_login": {
        "en": "Wrong address or password.",
        "fr": "Adresse ou mot de passe incorrect.",
    },
    "throttled": {
        "en": "Too many failed sign-ins. Try again in {seconds} seconds.",
        "fr": "Trop d'échecs de connexion. Réessayez dans {seconds} secondes.",
    },
    "refused": {
        "en": "This request was refused (it did not come from this page).",
        "fr": "Requête refusée (elle ne vient pas de cette page).",
    },
    "new_chat": {"en": "New conversation", "fr": "Nouvelle conversation"},
    "conversations": {"en": "Conversations", "fr": "Conversations"},
    "search_titles": {"en": "Search titles", "fr": "Chercher un titre"},
    "today": {"en": "Today", "fr": "Aujourd'hui"},
    "yesterday": {"en": "Yesterday", "fr": "Hier"},
    "week": {"en": "Previous 7 days", "fr": "7 derniers jours"},
    "older": {"en": "Older", "fr": "Plus ancien"},
    "untitled": {"en": "Untitled", "fr": "Sans titre"},
    "rename": {"en": "Rename", "fr": "Renommer"},
    "delete": {"en": "Delete", "fr": "Supprimer"},
    "delete_confirm": {
        "en": "Delete this conversation?",
        "fr": "Supprimer cette conversation ?",
    },
    "message": {"en": "Message", "fr": "Message"},
    "placeholder": {
        "en": "Ask about your mail… (Enter sends, Shift+Enter new line)",
        "fr": "Parlez de vos mails… (Entrée envoie, Maj+Entrée nouvelle ligne)",
    },
    "send": {"en": "Send", "fr": "Envoyer"},
    "stop": {"en": "Stop", "fr": "Arrêter"},
    "you": {"en": "You", "fr": "Vous"},
    "assistant": {"en": "Assistant", "fr": "Assistant"},
    "thinking": {"en": "Working…", "fr": "En cours…"},
    "answer_ready": {"en": "Answer ready.", "fr": "Réponse prête."},
    "confirm_title": {"en": "Confirmation needed", "fr": "Confirmation demandée"},
    "approve": {"en": "Approve", "fr": "Approuver"},
    "deny": {"en": "Deny", "fr": "Refuser"},
    "approved": {"en": "Approved", "fr": "Approuvé"},
    "denied": {"en": "Denied", "fr": "Refusé"},
    "error": {"en": "Something went wrong", "fr": "Un problème est survenu"},
    "unreachable": {
        "en": "The assistant cannot be reached right now.",
        "fr": "L'assistant est injoignable pour le moment.",
    },
    "retry": {"en": "Retry", "fr": "Réessayer"},
    "cancelled": {"en": "Stopped.", "fr": "Arrêté."},
    "tool": {"en": "Tool", "fr": "Outil"},
    "result": {"en": "Result", "fr": "Résultat"},
    "failed": {"en": "failed", "fr": "échec"},
    "from": {"en": "From", "fr": "De"},
    "to": {"en": "To", "fr": "À"},
    "subject": {"en": "Subject", "fr": "Objet"},
    "date": {"en": "Date", "fr": "Date"},
    "unread": {"en": "unread", "fr": "non lu"},
    "open": {"en": "Open", "fr": "Ouvrir"},
    "one_message": {"en": "1 message", "fr": "1 message"},
    "n_messages": {"en": "{count} messages", "fr": "{count} messages"},
    "close": {"en": "Close", "fr": "Fermer"},
    "plain_text": {"en": "Plain text", "fr": "Texte brut"},
    "remote_blocked": {
        "en": "Remote images were blocked.",
        "fr": "Les images distantes ont été bloquées.",
    },
    "show_remote": {
        "en": "Show them (the sender learns you opened it)",
        "fr": "Les afficher (l'expéditeur saura que vous l'avez ouvert)",
    },
    "no_messages": {"en": "No messages.", "fr": "Aucun message."},
    "devices": {"en": "Devices", "fr": "Appareils"},
    "chat": {"en": "Assistant", "fr": "Assistant"},
    "admin": {"en": "Admin", "fr": "Admin"},
    "language": {"en": "Language", "fr": "Langue"},
    "menu": {"en": "Menu", "fr": "Menu"},
    "empty_chat": {
        "en": "Ask anything about your mail: “list my emails”, “write to bob@example.org…”.",
        "fr": "Demandez ce que vous voulez : « liste mes mails », « écris à bob@example.org… ».",
    },
    # devices
    "devices_title": {"en": "Set up your devices", "fr": "Configurer vos appareils"},
    "servers": {"en": "Servers", "fr": "Serveurs"},
    "server": {"en": "Server", "fr": "Serveur"},
    "port": {"en": "Port", "fr": "Port"},
    "security": {"en": "Security", "fr": "Sécurité"},
    "username": {"en": "User name", "fr": "Identifiant"},
    "thunderbird_help": {
        "en": "Thunderbird finds these settings itself: enter your address and password. "
        "It reads them from this box's autoconfig file:",
        "fr": "Thunderbird trouve ces réglages seul : saisissez votre adresse et votre mot "
        "de passe. Il les lit dans le fichier autoconfig de cette boîte :",
    },
    "dav_title": {"en": "Calendars and contacts", "fr": "Agendas et contacts"},
    "dav_base": {"en": "Server (DAVx5)", "fr": "Serveur (DAVx5)"},
    "dav_calendar": {"en": "Calendar (CalDAV)", "fr": "Agenda (CalDAV)"},
    "dav_addressbook": {"en": "Address book (CardDAV)", "fr": "Carnet d'adresses (CardDAV)"},
    "dav_help": {
        "en": 'DAVx5 on Android: "Login with URL and user name", the server address '
        "above, your address and password (or an app password with the dav scope). "
        "Thunderbird: New Calendar → On the network, the calendar address; New Address "
        "Book → CardDAV, the address book address. Apple devices get both from the "
        "profile below.",
        "fr": "DAVx5 sur Android : « Connexion avec une URL et un nom d'utilisateur », "
        "l'adresse du serveur ci-dessus, votre adresse et votre mot de passe (ou un mot "
        "de passe d'application avec la portée dav). Thunderbird : Nouvel agenda → Sur "
        "le réseau, l'adresse de l'agenda ; Nouveau carnet d'adresses → CardDAV, "
        "l'adresse du carnet. Les appareils Apple reçoivent les deux avec le profil "
        "ci-dessous.",
    },
    "apple_help": {
        "en": "On an iPhone, iPad or Mac, open this profile and install it in Settings: "
        "mail, calendars and contacts.",
        "fr": "Sur iPhone, iPad ou Mac, ouvrez ce profil et installez-le dans Réglages : "
        "mails, agendas et contacts.",
    },
    "apple_profile": {"en": "Download the Apple profile", "fr": "Télécharger le profil Apple"},
    "android_help": {
        "en": "On Android (Thunderbird for Android / K-9 Mail, FairEmail), type the settings "
        "above. Scan this code with the phone to open this page there (for the "
        "certificate, or to copy an app password).",
        "fr": "Sur Android (Thunderbird pour Android / K-9 Mail, FairEmail), saisissez les "
        "réglages ci-dessus. Scannez ce code avec le téléphone pour ouvrir cette page "
        "dessus (pour le certificat, ou pour copier un mot de passe d'application).",
    },
    "qr_alt": {
        "en": "QR code: the address of this page",
        "fr": "QR code : l'adresse de cette page",
    },
    "ca_title": {"en": "This box's certificate", "fr": "Le certificat de cette boîte"},
    "ca_help": {
        "en": "This box signs its own certificates. Install its authority once on each "
        "device: Apple — open the file, then Settings › General › About › Certificate Trust "
        "Settings; Android — Settings › Security › Install a certificate › CA certificate; "
        "Thunderbird — Settings › Privacy & Security › Certificates › Import.",
        "fr": "Cette boîte signe ses propres certificats. Installez son autorité une fois "
        "par appareil : Apple — ouvrez le fichier, puis Réglages › Général › Informations › "
        "Réglages des certificats ; Android — Paramètres › Sécurité › Installer un "
        "certificat › Certificat CA ; Thunderbird — Paramètres › Vie privée et sécurité › "
        "Certificats › Importer.",
    },
    "ca_download": {"en": "Download the CA certificate", "fr": "Télécharger le certificat CA"},
    "ca_none": {
        "en": "This box uses a publicly trusted certificate: nothing to install.",
        "fr": "Cette boîte a un certificat reconnu publiquement : rien à installer.",
    },
    "tokens_title": {"en": "App passwords and tokens", "fr": "Mots de passe d'application"},
    "tokens_help": {
        "en": "For MCP clients, scripts and apps: a token with only the rights it needs. "
        "It is shown once.",
        "fr": "Pour les clients MCP, les scripts et les applications : un jeton avec les "
        "seuls droits nécessaires. Il n'est affiché qu'une fois.",
    },
    "token_name": {"en": "Name", "fr": "Nom"},
    "scopes": {"en": "Rights", "fr": "Droits"},
    "create": {"en": "Create", "fr": "Créer"},
    "created": {"en": "Created", "fr": "Créé"},
    "last_used": {"en": "Last used", "fr": "Dernier usage"},
    "revoke": {"en": "Revoke", "fr": "Révoquer"},
    "revoked": {"en": "revoked", "fr": "révoqué"},
    "never": {"en": "never", "fr": "jamais"},
    "new_token": {
        "en": "Your new token (copy it now, it will not be shown again):",
        "fr": "Votre nouveau jeton (copiez-le maintenant, il ne sera plus affiché) :",
    },
    "password_title": {"en": "Change password", "fr": "Changer de mot de passe"},
    "current_password": {"en": "Current password", "fr": "Mot de passe actuel"},
    "new_password": {"en": "New password", "fr": "Nouveau mot de passe"},
    "password_changed": {"en": "Password changed.", "fr": "Mot de passe changé."},
    "saved": {"en": "Saved.", "fr": "Enregistré."},
    # admin
    "users": {"en": "Users", "fr": "Utilisateurs"},
    "add_user": {"en": "Add a user", "fr": "Ajouter un utilisateur"},
    "is_admin": {"en": "Administrator", "fr": "Administrateur"},
    "reset_password": {"en": "Reset password", "fr": "Réinitialiser le mot de passe"},
    "disable": {"en": "Disable", "fr": "Désactiver"},
    "enable": {"en": "Enable", "fr": "Réactiver"},
    "disabled": {"en": "disabled", "fr": "désactivé"},
    "status": {"en": "Services", "fr": "Services"},
    "dns_title": {"en": "DNS records to publish", "fr": "Enregistrements DNS à publier"},
    "queue_title": {"en": "Outgoing queue", "fr": "File d'envoi"},
    "empty": {"en": "Nothing.", "fr": "Rien."},
}


def translator(language: str) -> Callable[..., str]:
    language = language if language in LANGUAGES else "en"

    def t(key: str, **values: Any) -> str:
        text = _WORDS[key][language]
        return text.format(**values) if values else text

    return t


def pick_language(accept_language: str | None, chosen: object = None) -> str:
    """The person's choice, else the first of the browser's languages we speak."""
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"
