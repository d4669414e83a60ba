import { useI18n } from "vue-i18n";
import { typeLabel } from "../logic/typeLabel";

/** `label(type)`: the model type in the page's language, following language switches. */
export function useTypeLabel(): (type: string) => string {
  const { t, te } = useI18n();
  return (type) => typeLabel(type, (key) => t(key), (key) => te(key) || te(key, "en"));
}
